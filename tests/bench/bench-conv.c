/* bench-conv.c: the backbone's 3x3 stride-1 layers, one at a time: oneDNN's
 * direct convolution (and its Winograd, where this oneDNN has one for this
 * CPU) against hyrsm-winograd.c, in GFLOP/s of the direct algorithm's
 * count (2 x n x oc x ic x 9 x h x w), so that the columns compare times.
 *
 * The shapes are those of ResNet-18, -34 and -50 at 224 x 224 (all three
 * have their 3x3 stride-1 layers at 64/128/256/512 channels on 56/28/14/7
 * pixels), each with bias and ReLU fused as in the network, in the layout
 * oneDNN picks for its direct convolution (nChw8c with AVX2, nChw16c with
 * AVX-512), which is the layout the layer has inside the backbone.
 * Before timing, the Winograd output is compared with oneDNN's.
 *
 *   OMP_NUM_THREADS=2 build/tests/bench-conv [--batch 1,8] [--iters 20]
 *       [--channels 64]
 *   ONEDNN_MAX_CPU_ISA=AVX2 ...   oneDNN as on a CPU without AVX-512
 */
#include "hyrsm-dnnl.h"
#include "hyrsm-winograd.h"

#include <glib.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  int iters;
} Bench;

#define CHECK(call) \
  do { \
    dnnl_status_t s_ = (call); \
    if (s_ != dnnl_success) { \
      fprintf (stderr, "%s: %s\n", #call, dnnl_status2str (s_)); \
      exit (1); \
    } \
  } while (0)

static dnnl_memory_t
memory (Bench *b, HyrsmDnnlConstMd md)
{
  dnnl_memory_t m;
  CHECK (dnnl_memory_create (&m, md, b->engine, DNNL_MEMORY_ALLOCATE));
  return m;
}

static double
median (double *t, int n)
{
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
      double x = t[j];
      t[j] = t[j - 1];
      t[j - 1] = x;
    }
  return t[n / 2];
}

static void
reorder (Bench *b, dnnl_memory_t from_mem, dnnl_memory_t to_mem)
{
  HyrsmDnnlConstMd from, to;
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t r;
  CHECK (dnnl_memory_get_memory_desc (from_mem, &from));
  CHECK (dnnl_memory_get_memory_desc (to_mem, &to));
  CHECK (dnnl_reorder_primitive_desc_create (&pd, from, b->engine, to,
          b->engine, NULL));
  CHECK (dnnl_primitive_create (&r, pd));
  dnnl_exec_arg_t args[2] = { {DNNL_ARG_FROM, from_mem}, {DNNL_ARG_TO,
          to_mem}
  };
  CHECK (dnnl_primitive_execute (r, b->stream, 2, args));
  CHECK (dnnl_stream_wait (b->stream));
  dnnl_primitive_destroy (r);
  dnnl_primitive_desc_destroy (pd);
}

/* oneDNN's convolution of algorithm @alg with bias and ReLU: its median
 * time in seconds, its output in @out (plain values in its layout), its
 * layout's channel block in @block; < 0 when not implemented here. */
static double
time_onednn (Bench *b, int n, int c, int hw, dnnl_alg_kind_t alg,
    const float *plain_weights, const float *bias, const float *plain_src,
    float **out, int *block, const char **impl)
{
  dnnl_dims_t src_dims = { n, c, hw, hw }, w_dims = { c, c, 3, 3 };
  dnnl_dims_t b_dims = { c }, strides = { 1, 1 }, pad = { 1, 1 };
  HyrsmDnnlMd src_md, w_md, b_md, dst_md, plain_md, plain_w_md;
  CHECK (hyrsm_dnnl_md_create (&src_md, 4, src_dims, dnnl_f32,
          dnnl_format_tag_any));
  CHECK (hyrsm_dnnl_md_create (&w_md, 4, w_dims, dnnl_f32,
          dnnl_format_tag_any));
  CHECK (hyrsm_dnnl_md_create (&b_md, 1, b_dims, dnnl_f32, dnnl_x));
  CHECK (hyrsm_dnnl_md_create (&dst_md, 4, src_dims, dnnl_f32,
          dnnl_format_tag_any));
  CHECK (hyrsm_dnnl_md_create (&plain_md, 4, src_dims, dnnl_f32, dnnl_nchw));
  CHECK (hyrsm_dnnl_md_create (&plain_w_md, 4, w_dims, dnnl_f32,
          dnnl_oihw));
  dnnl_primitive_attr_t attr;
  dnnl_post_ops_t ops;
  CHECK (dnnl_primitive_attr_create (&attr));
  CHECK (dnnl_post_ops_create (&ops));
  CHECK (hyrsm_dnnl_post_ops_append_relu (ops));
  CHECK (dnnl_primitive_attr_set_post_ops (attr, ops));
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = hyrsm_dnnl_convolution_create (&pd, b->engine, src_md,
      w_md, b_md, dst_md, strides, pad, pad, alg, attr);
  double result = -1;
  if (st == dnnl_success) {
    *impl = hyrsm_dnnl_impl_name (pd);
    HyrsmDnnlConstMd want_src = dnnl_primitive_desc_query_md (pd,
        dnnl_query_src_md, 0);
    HyrsmDnnlConstMd want_w = dnnl_primitive_desc_query_md (pd,
        dnnl_query_weights_md, 0);
    HyrsmDnnlConstMd want_dst = dnnl_primitive_desc_query_md (pd,
        dnnl_query_dst_md, 0);
    *block = 0;
    const struct { dnnl_format_tag_t tag; int block; } layouts[] = {
      {dnnl_nChw8c, 8}, {dnnl_nChw16c, 16}, {dnnl_nhwc, c} };
    for (int i = 0; i < 3; i++) {
      HyrsmDnnlMd md;
      CHECK (hyrsm_dnnl_md_create (&md, 4, src_dims, dnnl_f32,
              layouts[i].tag));
      if (dnnl_memory_desc_equal (want_src, md)
          && dnnl_memory_desc_equal (want_dst, md))
        *block = layouts[i].block;
      hyrsm_dnnl_md_destroy (md);
    }

    /* the inputs, reordered from plain into the chosen layouts */
    dnnl_memory_t psrc, pw, src, w, bm, dst;
    CHECK (dnnl_memory_create (&psrc, plain_md, b->engine,
            (void *) plain_src));
    CHECK (dnnl_memory_create (&pw, plain_w_md, b->engine,
            (void *) plain_weights));
    CHECK (dnnl_memory_create (&bm, b_md, b->engine, (void *) bias));
    src = memory (b, want_src);
    w = memory (b, want_w);
    dst = memory (b, want_dst);
    reorder (b, psrc, src);
    reorder (b, pw, w);
    dnnl_primitive_t prim;
    CHECK (dnnl_primitive_create (&prim, pd));
    HyrsmDnnlConstMd scratch_md = dnnl_primitive_desc_query_md (pd,
        dnnl_query_scratchpad_md, 0);
    dnnl_memory_t scratch = scratch_md ? memory (b, scratch_md) : NULL;
    dnnl_exec_arg_t args[5] = { {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w},
    {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch}
    };
    double *t = g_new (double, b->iters);
    for (int i = -3; i < b->iters; i++) {
      gint64 t0 = g_get_monotonic_time ();
      CHECK (dnnl_primitive_execute (prim, b->stream, scratch ? 5 : 4,
              args));
      CHECK (dnnl_stream_wait (b->stream));
      if (i >= 0)
        t[i] = (g_get_monotonic_time () - t0) / 1e6;
    }
    result = median (t, b->iters);
    g_free (t);
    /* the output as plain NCHW, to compare whatever the layouts */
    *out = g_new (float, (gsize) n * c * hw * hw);
    dnnl_memory_t plain_out;
    CHECK (dnnl_memory_create (&plain_out, plain_md, b->engine, *out));
    reorder (b, dst, plain_out);
    dnnl_memory_destroy (plain_out);
    dnnl_primitive_destroy (prim);
    for (dnnl_memory_t *m = (dnnl_memory_t[]) {
        psrc, pw, bm, src, w, dst, scratch}, *end = m + 7; m < end; m++)
      if (*m)
        dnnl_memory_destroy (*m);
    dnnl_primitive_desc_destroy (pd);
  }
  dnnl_post_ops_destroy (ops);
  dnnl_primitive_attr_destroy (attr);
  for (HyrsmDnnlMd *m = (HyrsmDnnlMd[]) {
      src_md, w_md, b_md, dst_md, plain_md, plain_w_md}, *end = m + 6;
      m < end; m++)
    hyrsm_dnnl_md_destroy (*m);
  return result;
}

/* Index of (i, ch, pixel p) in nChw<block>c. */
static gsize
blocked_at (int c, int hw, int block, int i, int ch, int p)
{
  return (((gsize) i * (c / block) + ch / block) * hw * hw + p) * block
      + ch % block;
}

/* Converts plain NCHW into nChw<block>c, or back. */
static float *
convert (const float *in, int n, int c, int hw, int block, gboolean back)
{
  float *out = g_new (float, (gsize) n * c * hw * hw);
  for (int i = 0; i < n; i++)
    for (int ch = 0; ch < c; ch++)
      for (int p = 0; p < hw * hw; p++) {
        gsize plain = ((gsize) i * c + ch) * hw * hw + p;
        gsize blocked = blocked_at (c, hw, block, i, ch, p);
        out[back ? plain : blocked] = in[back ? blocked : plain];
      }
  return out;
}

int
main (int argc, char **argv)
{
  g_autofree char *batches = g_strdup ("1,8");
  int iters = 20, only = 0;
  GOptionEntry entries[] = {
    {"channels", 0, 0, G_OPTION_ARG_INT, &only,
        "only the layer of this many channels (64, 128, 256, 512)", "C"},
    {"batch", 0, 0, G_OPTION_ARG_STRING, &batches, "batch sizes", "1,8"},
    {"iters", 0, 0, G_OPTION_ARG_INT, &iters, "timed runs per cell", "20"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- 3x3 convolutions");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "%s\n", error->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (!hyrsm_winograd_supported ()) {
    fprintf (stderr, "this CPU has no AVX2 and FMA: nothing to compare\n");
    return 77;
  }
  Bench b = {.iters = MAX (iters, 1) };
  CHECK (dnnl_engine_create (&b.engine, dnnl_cpu, 0));
  CHECK (dnnl_stream_create (&b.stream, b.engine, dnnl_stream_default_flags));
  int threads = omp_get_max_threads ();
  printf ("oneDNN ISA %s, %d threads; GFLOP/s of the direct count, "
      "median of %d runs\n\n", hyrsm_dnnl_isa_name (), threads, b.iters);
  printf ("| channels | pixels | batch | oneDNN direct | oneDNN winograd "
      "| hyrsm winograd | hyrsm / best oneDNN | max rel diff: oneDNN winograd "
      "| hyrsm winograd |\n");
  printf ("|---|---|---|---|---|---|---|---|---|\n");
  const int shapes[][2] = { {64, 56}, {128, 28}, {256, 14}, {512, 7} };
  g_auto (GStrv) sizes = g_strsplit (batches, ",", -1);
  for (char **s = sizes; *s; s++) {
    int n = atoi (*s);
    for (guint k = 0; k < G_N_ELEMENTS (shapes); k++) {
      int c = shapes[k][0], hw = shapes[k][1];
      if (only && c != only)
        continue;
      double flop = 2.0 * n * c * c * 9 * hw * hw;
      double scale = 1.0 / sqrt (9.0 * c);
      GRand *rand = g_rand_new_with_seed (k);
      gsize count = (gsize) n * c * hw * hw;
      float *src = g_new (float, count), *w = g_new (float, c * c * 9);
      float *bias = g_new (float, c);
      for (gsize i = 0; i < count; i++)
        src[i] = (float) g_rand_double_range (rand, 0, 2);
      for (int i = 0; i < c * c * 9; i++)
        w[i] = (float) g_rand_double_range (rand, -scale, scale);
      for (int i = 0; i < c; i++)
        bias[i] = (float) g_rand_double_range (rand, -0.5, 0.5);
      g_rand_free (rand);

      float *direct_out = NULL, *wino_out = NULL;
      int block = 0, wino_block = 0;
      const char *impl = "?", *wino_impl = "?";
      double direct = time_onednn (&b, n, c, hw, dnnl_convolution_direct, w,
          bias, src, &direct_out, &block, &impl);
      double dwino = time_onednn (&b, n, c, hw, dnnl_convolution_winograd, w,
          bias, src, &wino_out, &wino_block, &wino_impl);
      if (block == 0) {
        fprintf (stderr, "oneDNN chose a layout other than nChw8c, nChw16c "
            "or nhwc\n");
        return 1;
      }
      HyrsmWinograd *wg = hyrsm_winograd_new (c, c, w, bias);
      float *in = convert (src, n, c, hw, block, FALSE);
      float *out = g_new (float, count);
      void *scratch;
      if (posix_memalign (&scratch, 32, hyrsm_winograd_scratch_size (wg, n,
                  hw, hw, threads)))
        return 1;
      double *t = g_new (double, b.iters);
      for (int i = -3; i < b.iters; i++) {
        gint64 t0 = g_get_monotonic_time ();
        hyrsm_winograd_run (wg, n, hw, hw, block, block, in, out, FALSE,
            TRUE, scratch, threads);
        if (i >= 0)
          t[i] = (g_get_monotonic_time () - t0) / 1e6;
      }
      double ours = median (t, b.iters);
      /* errors against oneDNN's direct convolution, all plain NCHW */
      float *plain_out = convert (out, n, c, hw, block, TRUE);
      double diff = 0, wino_diff = 0, largest = 0;
      for (gsize i = 0; i < count; i++) {
        diff = MAX (diff, fabs (plain_out[i] - direct_out[i]));
        if (wino_out)
          wino_diff = MAX (wino_diff, fabs (wino_out[i] - direct_out[i]));
        largest = MAX (largest, fabs (direct_out[i]));
      }
      g_free (plain_out);
      g_autofree char *wd = wino_out ?
          g_strdup_printf ("%.1e", wino_diff / largest) : g_strdup ("n/a");
      double best = dwino > 0 ? MIN (direct, dwino) : direct;
      g_autofree char *dw = dwino > 0 ? g_strdup_printf ("%.1f (%s)",
          flop / dwino / 1e9, wino_impl) : g_strdup ("n/a");
      g_autofree char *layout = block == c ? g_strdup ("nhwc") :
          g_strdup_printf ("nChw%dc", block);
      g_autofree char *wino_layout = wino_block == 0 ? g_strdup ("other") :
          wino_block == c ? g_strdup ("nhwc") :
          g_strdup_printf ("nChw%dc", wino_block);
      printf ("| %d | %dx%d | %d | %.1f (%s, %s) | %s%s%s%s | %.1f | %.2fx "
          "| %s | %.1e |\n", c, hw, hw, n, flop / direct / 1e9, impl,
          layout, dw, dwino > 0 ? " (" : "", dwino > 0 ? wino_layout : "",
          dwino > 0 ? ")" : "", flop / ours / 1e9, best / ours, wd,
          diff / largest);
      fflush (stdout);
      g_free (t);
      free (scratch);
      g_free (in);
      g_free (out);
      g_free (direct_out);
      g_free (wino_out);
      g_free (src);
      g_free (w);
      g_free (bias);
      hyrsm_winograd_free (wg);
    }
  }
  dnnl_stream_destroy (b.stream);
  dnnl_engine_destroy (b.engine);
  return 0;
}
