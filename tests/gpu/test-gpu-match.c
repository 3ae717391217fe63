/* test-gpu-match.c: the relation head and whole matches on the CUDA
 * backend against the CPU model's: the head's sections with random
 * weights, and end to end through the public API with a PyTorch-made
 * model: part of test-gpu (see test-gpu.c). */
#include "hyrsm.h"
#include "hyrsm-backend.h"
#include "hyrsm-model-private.h"
#include "hyrsm-relation.h"
#include "test-model-writer.h"
#include "gpu-test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ---- the relation head on the device ---- */

/* relation_intra / relation_inter / token_distances of the CUDA backend
 * (through hyrsm-relation.c, which hands sections 4 to 6 to it) against
 * the CPU model's, and a whole match through the public API. float32 head
 * in both precisions; fp16 mode runs its GEMMs in TF32. */
static void
check_relation (const char *precision, double tol, double dist_tol)
{
  const int D = 256, T = 8, classes = 5;
  TestModelSpec spec = {.head = "1shot",.head_dim = D,.seed = 11 };
  g_autofree char *path = g_build_filename (tmpdir, "head.safetensors",
      NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (test_model_write (path, &spec, &error));
  g_assert_no_error (error);
  g_setenv ("HYRSM_PRECISION", precision, TRUE);
  HyrsmModel *cpu = hyrsm_model_new_from_file_full (path, "cpu", &error);
  g_assert_no_error (error);
  HyrsmModel *gpu = hyrsm_model_new_from_file_full (path, "cuda", &error);
  g_assert_no_error (error);
  g_assert_nonnull (hyrsm_model_get_backend (gpu)->ops->relation_intra);
  const HyrsmRelation *rc = hyrsm_relation_get (cpu);
  const HyrsmRelation *rg = hyrsm_relation_get (gpu);
  g_assert_cmpint (hyrsm_relation_get_frames (rg), ==, T);

  float *f = random_floats ((gsize) T * D, 0.0, 3.0, 31);
  float *want = g_new (float, (gsize) T * D), *have = g_new (float,
      (gsize) T * D);
  g_assert_true (hyrsm_relation_intra (rc, f, want, &error));
  g_assert_true (hyrsm_relation_intra (rg, f, have, &error));
  g_assert_no_error (error);
  g_autofree char *w1 = g_strdup_printf ("%s: intra-video relation",
      precision);
  check_close (w1, gpu_rel_error (have, want, (gsize) T * D), tol);

  /* 6 tokens (5 supports + the query), and more than the device takes
   * (the CPU computes those) */
  const int counts[2] = { classes + 1, HYRSM_RELATION_MAX_TOKENS + 1 };
  for (int i = 0; i < 2; i++) {
    int n = counts[i];
    float *u = random_floats ((gsize) n * D, -1.0, 1.0, 32 + i);
    float *g1 = g_new (float, (gsize) n * D), *g2 = g_new (float,
        (gsize) n * D);
    g_assert_true (hyrsm_relation_inter (rc, u, n, g1, &error));
    g_assert_true (hyrsm_relation_inter (rg, u, n, g2, &error));
    g_assert_no_error (error);
    g_autofree char *w2 = g_strdup_printf ("%s: inter-video relation, %d "
        "tokens", precision, n);
    check_close (w2, gpu_rel_error (g2, g1, (gsize) n * D), tol);
    g_free (u);
    g_free (g1);
    g_free (g2);
  }

  /* A whole decision: 5 classes, 1 shot, through the public API. */
  HyrsmSupportSet *sc = hyrsm_support_set_new (cpu);
  HyrsmSupportSet *sg = hyrsm_support_set_new (gpu);
  for (int c = 0; c < classes; c++) {
    float *ex = random_floats ((gsize) T * D, 0.0, 2.0, 40 + c);
    g_autofree char *label = g_strdup_printf ("class-%d", c);
    g_assert_true (hyrsm_support_set_add_raw (sc, label, ex, &error));
    g_assert_true (hyrsm_support_set_add_raw (sg, label, ex, &error));
    g_assert_no_error (error);
    g_free (ex);
  }
  float *query = random_floats ((gsize) T * D, 0.0, 2.0, 42);
  HyrsmMatchResult *mc = hyrsm_support_set_match_raw (sc, query, &error);
  g_assert_no_error (error);
  HyrsmMatchResult *mg = hyrsm_support_set_match_raw (sg, query, &error);
  g_assert_no_error (error);
  guint nc = 0, ng = 0;
  const double *dc = hyrsm_match_result_get_distances (mc, &nc);
  const double *dg = hyrsm_match_result_get_distances (mg, &ng);
  g_assert_cmpuint (nc, ==, classes);
  g_assert_cmpuint (ng, ==, classes);
  g_autofree char *w3 = g_strdup_printf ("%s: match distances", precision);
  check_close (w3, gpu_rel_error_dd (dg, dc, classes), dist_tol);
  check_distances (w3, dg, dc, classes, dist_tol);

  g_object_unref (mc);
  g_object_unref (mg);
  g_object_unref (sc);
  g_object_unref (sg);
  g_free (query);
  g_free (f);
  g_free (want);
  g_free (have);
  g_object_unref (cpu);
  g_object_unref (gpu);
  g_unsetenv ("HYRSM_PRECISION");
  g_unlink (path);
}

static void
test_relation (void)
{
  check_relation ("fp32", TOL_FP32, TOL_FP32);
  check_relation ("fp16", TOL_FP16, GPU_TOL_FP16_DISTANCE);
}

/* ---- end to end through the public API ---- */

/* A ResNet-18 + 1-shot head made by tests/fixtures/make_model.py (well
 * scaled random weights), at a small crop. NULL (and a skip) without
 * Python + torch. tests/gpu/run.sh makes the same file (same arguments). */
static char *
make_head_model (void)
{
  const char *fixtures = g_getenv ("HYRSM_FIXTURES");
  const char *python = g_getenv ("HYRSM_PYTHON");
  if (fixtures == NULL) {
    g_test_skip ("HYRSM_FIXTURES is not set");
    return NULL;
  }
  g_autofree char *script = g_build_filename (fixtures, "make_model.py",
      NULL);
  char *path = g_build_filename (tmpdir, "e2e.safetensors", NULL);
  const char *argv[] = { python ? python : "python3", script, path,
    "--backbone", "resnet18", "--head", "1shot", "--seed", "5",
    "--meta", "hyrsm.crop=112", "--meta", "hyrsm.resize=128", NULL
  };
  g_autofree char *err_text = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, NULL, &err_text, &status, &error)
      || !g_spawn_check_wait_status (status, NULL)) {
    g_autofree char *msg = g_strdup_printf ("cannot make the model with %s "
        "(needs torch, torchvision, numpy): %s", argv[0],
        error ? error->message : err_text);
    g_test_skip (msg);
    g_free (path);
    return NULL;
  }
  return path;
}

/* T frames of one synthetic "action": a moving coloured gradient whose
 * colour and direction depend on @class, plus noise. */
static guint8 *
action_frames (int class, int T, int width, int height, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  guint8 *rgb = g_malloc ((gsize) T * width * height * 3);
  for (int t = 0; t < T; t++)
    for (int y = 0; y < height; y++)
      for (int x = 0; x < width; x++) {
        guint8 *p = rgb + (((gsize) t * height + y) * width + x) * 3;
        double phase = (class % 2 ? x : y) * 0.05 + t * (0.3 + 0.2 * class);
        for (int c = 0; c < 3; c++) {
          double v = 128 + 100 * sin (phase + c * (1 + class));
          v += g_rand_double_range (rand, -20, 20);
          p[c] = (guint8) CLAMP (v, 0, 255);
        }
      }
  g_rand_free (rand);
  return rgb;
}

typedef struct
{
  float *features;              /* (classes + 1) x T x D: supports, query */
  double *distances;
  char *label;
} E2E;

static void
run_e2e (const char *path, const char *device, int classes, int T,
    int width, int height, E2E *out)
{
  g_autoptr (GError) error = NULL;
  HyrsmModel *model = hyrsm_model_new_from_file_full (path, device, &error);
  g_assert_no_error (error);
  note ("%s: %s", device, hyrsm_model_get_device (model));
  int D = hyrsm_model_get_feature_dim (model);
  gsize video = (gsize) T * D;
  out->features = g_new (float, (classes + 1) * video);
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  for (int c = 0; c <= classes; c++) {
    /* The query (last) is class 2 again with other noise. */
    guint8 *rgb = action_frames (c < classes ? c : 2, T, width, height,
        100 + c);
    GBytes *bytes = g_bytes_new_take (rgb, (gsize) T * width * height * 3);
    GBytes *feats = hyrsm_model_embed_frames (model, bytes, T, width, height,
        &error);
    g_assert_no_error (error);
    memcpy (out->features + c * video, g_bytes_get_data (feats, NULL),
        video * sizeof (float));
    if (c < classes) {
      g_autofree char *label = g_strdup_printf ("action-%d", c);
      g_assert_true (hyrsm_support_set_add (set, label, feats, &error));
      g_assert_no_error (error);
    }
    g_bytes_unref (feats);
    g_bytes_unref (bytes);
  }
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set,
      out->features + classes * video, &error);
  g_assert_no_error (error);
  guint n = 0;
  const double *d = hyrsm_match_result_get_distances (res, &n);
  g_assert_cmpuint (n, ==, classes);
  out->distances = g_memdup2 (d, n * sizeof (double));
  out->label = g_strdup (hyrsm_match_result_get_label (res));
  g_object_unref (res);
  g_object_unref (set);
  g_object_unref (model);
}

/* The model is made here, in the parent (Python, no CUDA), so that a
 * missing torch is a skip; the comparison runs in a child (run_child). */
static void
test_end_to_end (void)
{
  if (!g_test_subprocess ()) {
    REQUIRE_DEVICE ();
    /* run.sh makes the model itself (HYRSM_GPU_E2E_MODEL_FILE), so that
     * PyTorch does not run under the bundle's LD_LIBRARY_PATH. */
    const char *given = g_getenv ("HYRSM_GPU_E2E_MODEL_FILE");
    g_autofree char *model = given ? g_strdup (given) : make_head_model ();
    if (model == NULL)
      return;
    g_setenv ("HYRSM_GPU_E2E_MODEL", model, TRUE);
    run_child ();
    g_unsetenv ("HYRSM_GPU_E2E_MODEL");
    if (given == NULL)
      g_unlink (model);
    return;
  }
  const char *path = g_getenv ("HYRSM_GPU_E2E_MODEL");
  g_assert_nonnull (path);
  const int classes = 5, T = 8, width = 160, height = 120;
  E2E cpu, gpu[2];
  run_e2e (path, "cpu", classes, T, width, height, &cpu);
  static const char *const precisions[2] = { "fp32", "fp16" };
  for (int p = 0; p < 2; p++) {
    double tol = p == 0 ? TOL_FP32 : TOL_FP16;
    double dist_tol = p == 0 ? TOL_FP32 : GPU_TOL_FP16_DISTANCE;
    g_setenv ("HYRSM_PRECISION", precisions[p], TRUE);
    run_e2e (path, "cuda", classes, T, width, height, &gpu[p]);
    gsize nf = (gsize) (classes + 1) * T * 512;
    g_autofree char *w1 = g_strdup_printf ("end to end %s: features",
        precisions[p]);
    check_close (w1, gpu_rel_error (gpu[p].features, cpu.features, nf), tol);
    for (int c = 0; c < classes; c++)
      note ("%s: distance %d: cpu %.6f, cuda %.6f", precisions[p],
          c, cpu.distances[c], gpu[p].distances[c]);
    g_autofree char *w2 = g_strdup_printf ("end to end %s: distances",
        precisions[p]);
    check_close (w2, gpu_rel_error_dd (gpu[p].distances, cpu.distances,
            classes), dist_tol);
    check_distances (w2, gpu[p].distances, cpu.distances, classes,
        dist_tol);
    if (gpu_argmin (gpu[p].distances, classes) == gpu_argmin (cpu.distances,
            classes))
      g_assert_cmpstr (gpu[p].label, ==, cpu.label);
  }
  g_unsetenv ("HYRSM_PRECISION");
  for (int p = 0; p < 2; p++) {
    g_free (gpu[p].features);
    g_free (gpu[p].distances);
    g_free (gpu[p].label);
  }
  g_free (cpu.features);
  g_free (cpu.distances);
  g_free (cpu.label);
}

void
gpu_add_match_tests (void)
{
  add_device_func ("/gpu/relation/head", test_relation);
  g_test_add_func ("/gpu/end-to-end/resnet18-1shot", test_end_to_end);
}
