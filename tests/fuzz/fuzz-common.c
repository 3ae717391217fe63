/* fuzz-common.c: see fuzz-common.h. */
#define _GNU_SOURCE             /* nftw() */
#include "fuzz-common.h"
#include "test-model-writer.h"

#include <ftw.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *tmpdir;

static void
remove_tmpdir (void)
{
  if (tmpdir)
    fuzz_rm_rf (tmpdir);
}

const char *
fuzz_tmpdir (void)
{
  if (tmpdir == NULL) {
    GError *error = NULL;
    tmpdir = g_dir_make_tmp ("hyrsm-fuzz-XXXXXX", &error);
    if (tmpdir == NULL)
      g_error ("cannot make a temporary folder: %s", error->message);
    atexit (remove_tmpdir);
  }
  return tmpdir;
}

char *
fuzz_write_file (const char *name, const guint8 *data, gsize size)
{
  char *path = g_build_filename (fuzz_tmpdir (), name, NULL);
  FILE *f = fopen (path, "wb");
  if (f == NULL || (size > 0 && fwrite (data, 1, size, f) != size)
      || fclose (f) != 0)
    g_error ("cannot write %s", path);
  return path;
}

static int
remove_one (const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
  /* A folder made unreadable by a test is made readable again first. */
  if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
    chmod (path, 0700);
  remove (path);
  return 0;
}

void
fuzz_rm_rf (const char *path)
{
  /* Folders left without permissions cannot be walked: open them up. */
  chmod (path, 0700);
  nftw (path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

gboolean
fuzz_write_head_model (const char *path, GError **error)
{
  TestModelSpec spec = {.head = "1shot",.head_dim = 8,.seed = 7 };
  return test_model_write (path, &spec, error);
}

gboolean
fuzz_write_backbone_model (const char *path, GError **error)
{
  static const char *const meta[] = { "hyrsm.crop", "32", "hyrsm.resize",
    "36", NULL
  };
  TestModelSpec spec = {.backbone = "resnet18",.head = "1shot",.seed = 5,
    .extra_metadata = meta
  };
  return test_model_write (path, &spec, error);
}

static HyrsmModel *
load_model (const char *name, gboolean (*write) (const char *, GError **))
{
  g_autofree char *path = g_build_filename (fuzz_tmpdir (), name, NULL);
  GError *error = NULL;
  HyrsmModel *model = NULL;
  if (!write (path, &error)
      || !(model = hyrsm_model_new_from_file_full (path, "cpu", &error)))
    g_error ("cannot make the fuzz model %s: %s", path, error->message);
  return model;
}

HyrsmModel *
fuzz_head_model (void)
{
  static HyrsmModel *model;
  if (model == NULL)
    model = load_model ("head-model.safetensors", fuzz_write_head_model);
  return model;
}

HyrsmModel *
fuzz_backbone_model (void)
{
  static HyrsmModel *model;
  if (model == NULL)
    model = load_model ("backbone-model.safetensors",
        fuzz_write_backbone_model);
  return model;
}

void
fuzz_check_error (const GError *error)
{
  FUZZ_CHECK (error != NULL);
  FUZZ_CHECK (error->message != NULL && error->message[0] != '\0');
  FUZZ_CHECK (g_utf8_validate (error->message, -1, NULL));
}
