/* fuzz-main.c: replays inputs through a fuzz target without libFuzzer, for
 * builds with gcc (and the sanitizer and valgrind runs): every seed and
 * every kept regression input is then an ordinary test.
 *
 *   fuzz-TARGET FILE_OR_DIR...     runs each file (folders: every file in
 *                                  them, recursively, in sorted order)
 *
 * A crash or a failed check aborts; otherwise it prints how many inputs ran
 * and exits 0. */
#include "fuzz-common.h"

#include <stdio.h>
#include <string.h>

static void
collect (const char *path, GPtrArray *files)
{
  if (!g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_ptr_array_add (files, g_strdup (path));
    return;
  }
  GError *error = NULL;
  GDir *dir = g_dir_open (path, 0, &error);
  if (dir == NULL)
    g_error ("%s", error->message);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (dir);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++) {
    char *child = g_build_filename (path, names->pdata[i], NULL);
    collect (child, files);
    g_free (child);
  }
  g_ptr_array_unref (names);
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

int
main (int argc, char **argv)
{
  if (argc < 2) {
    fprintf (stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  for (int i = 1; i < argc; i++) {
    if (!g_file_test (argv[i], G_FILE_TEST_EXISTS)) {
      /* A target may have no regression inputs yet. */
      fprintf (stderr, "%s: %s does not exist, skipped\n", argv[0], argv[i]);
      continue;
    }
    GPtrArray *one = g_ptr_array_new_with_free_func (g_free);
    collect (argv[i], one);
    g_ptr_array_sort (one, compare_paths);
    for (guint j = 0; j < one->len; j++)
      g_ptr_array_add (files, g_strdup (one->pdata[j]));
    g_ptr_array_unref (one);
  }
  for (guint i = 0; i < files->len; i++) {
    const char *path = files->pdata[i];
    gchar *data = NULL;
    gsize size = 0;
    GError *error = NULL;
    if (!g_file_get_contents (path, &data, &size, &error))
      g_error ("%s", error->message);
    printf ("%s (%" G_GSIZE_FORMAT " bytes)\n", path, size);
    fflush (stdout);
    /* An exactly sized copy, as libFuzzer gives, so that sanitizers and
     * valgrind catch a read one past the end. */
    guint8 *copy = g_malloc (MAX (size, 1));
    memcpy (copy, data, size);
    g_free (data);
    LLVMFuzzerTestOneInput (copy, size);
    g_free (copy);
  }
  printf ("%u inputs ran\n", files->len);
  g_ptr_array_unref (files);
  return 0;
}
