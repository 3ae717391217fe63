/* make-test-model.c: writes a synthetic model file from the command line,
 * for the Python and element tests (weights are small pseudo-random values;
 * use tests/fixtures/make_model.py for well-scaled random networks). */
#include "test-model-writer.h"

#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
  char *backbone = NULL, *head = NULL;
  gboolean authors = FALSE;
  int dim = 0, seed = 0;
  char **meta = NULL;
  GOptionEntry entries[] = {
    {"backbone", 0, 0, G_OPTION_ARG_STRING, &backbone,
        "resnet18, resnet34 or resnet50 (default: none)", "NAME"},
    {"head", 0, 0, G_OPTION_ARG_STRING, &head,
        "1shot, 5shot or unnamed (default: none)", "KIND"},
    {"authors-names", 0, 0, G_OPTION_ARG_NONE, &authors,
        "Name tensors as the HyRSM++ authors (backbone.N...)", NULL},
    {"dim", 0, 0, G_OPTION_ARG_INT, &dim, "Head width for head-only files",
        "D"},
    {"seed", 0, 0, G_OPTION_ARG_INT, &seed, "Random seed", "N"},
    {"meta", 0, 0, G_OPTION_ARG_STRING_ARRAY, &meta,
        "Extra __metadata__ entry (repeatable), e.g. hyrsm.crop=32", "K=V"},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("OUT");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2) {
    fprintf (stderr, "make-test-model: %s\n", error ? error->message :
        "expected one OUT path");
    return 2;
  }
  TestModelSpec spec = {.backbone = backbone,.head = head,
    .authors_names = authors,.head_dim = dim ? dim : 512,.seed = seed
  };
  if (backbone)
    spec.head_dim = 0;
  GPtrArray *pairs = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; meta && meta[i]; i++) {
    char *eq = strchr (meta[i], '=');
    if (eq == NULL) {
      fprintf (stderr, "make-test-model: --meta %s: expected KEY=VALUE\n",
          meta[i]);
      return 2;
    }
    g_ptr_array_add (pairs, g_strndup (meta[i], eq - meta[i]));
    g_ptr_array_add (pairs, g_strdup (eq + 1));
  }
  g_ptr_array_add (pairs, NULL);
  spec.extra_metadata = (const char *const *) pairs->pdata;
  if (!test_model_write (argv[1], &spec, &error)) {
    fprintf (stderr, "make-test-model: %s\n", error->message);
    return 1;
  }
  g_ptr_array_unref (pairs);
  g_strfreev (meta);
  g_free (backbone);
  g_free (head);
  return 0;
}
