/* hyrsm-support-set.c: HyrsmSupportSet, the labelled examples a query is
 * matched against (docs/model.md sections 5 and 6).
 *
 * What does not depend on the query is computed once. When an example is
 * added: its intra-relation output S, the mean u of S, W2a S and the
 * inter-relation's Q, K, V of u (docs/model.md sections 4 and 5), and for the
 * 5-shot rule the same for each class prototype. At the first match of a
 * snapshot: the support tokens' mutual attention terms
 * (hyrsm_inter_support_new_take(), hyrsm-relation.h). A query then costs
 * its own intra-relation, its Q, K, V, the support rows' attention finished
 * with the query's column (O (M D)), W2b g for every token, the fuse
 * additions and the metric; hyrsm_support_set_match_batch() does that for
 * many queries with each weight read once.
 *
 * Concurrency: the examples and classes live in an immutable, refcounted
 * Snapshot. A match takes a reference to the current snapshot (under
 * `lock`, held only for that pointer copy) and computes without any lock,
 * so matches never wait for each other nor for a change, and a change never
 * waits for the matches in progress (no writer starvation, unlike a
 * reader-preferring rwlock). Changes are serialized by `write_mutex`: each
 * builds the next snapshot (sharing the unchanged examples and classes) and
 * swaps it in under `lock`. The one wait between matches: those that start
 * on a new snapshot while its first match builds the supports' mutual
 * terms (`inter_lock`) wait for them and then share them.
 */
#include "hyrsm-support-set-private.h"
#include "hyrsm-error.h"
#include "hyrsm-model-private.h"
#include "hyrsm-relation.h"
#include "hyrsm-scratch.h"

#include <math.h>
#include <string.h>

/* Query-independent data of one token (an example, or a class prototype). */
typedef struct
{
  float *s;                     /* T x D intra-relation output */
  float *u;                     /* D: mean of s over frames */
  float *w2a_s;                 /* T x D: s W2a^T */
  float *qkv;                   /* 3 x D: u Wq^T, u Wk^T, u Wv^T */
} Derived;

/* Examples and classes are immutable once in a snapshot; a class that
 * changes is replaced by a new Class with the same id. */
typedef struct
{
  gatomicrefcount ref;
  guint class_id;
  float *features;              /* T x D backbone features */
  Derived d;                    /* empty for a backbone-only model */
} Example;

typedef struct
{
  gatomicrefcount ref;
  guint id;                     /* stable while the label has examples */
  char *label;
  guint n_examples;
  Derived proto;                /* when the set keeps prototypes */
} Class;

typedef struct
{
  gatomicrefcount ref;
  GPtrArray *examples;          /* Example*, insertion order */
  GPtrArray *classes;           /* Class*, first-insertion order */
  GMutex inter_lock;            /* guards inter */
  HyrsmInterSupport *inter;     /* the tokens' mutual terms, made by the
                                 * first match of this snapshot */
} Snapshot;

struct _HyrsmSupportSet
{
  GObject parent_instance;

  HyrsmModel *model;
  const HyrsmRelation *rel;     /* NULL for a backbone-only model */
  HyrsmHeadKind head_kind;
  int frames;                   /* T */
  int dim;                      /* D */
  gboolean keep_prototypes;     /* the 5-shot rule may apply */

  GMutex lock;                  /* guards snap and threshold */
  GMutex write_mutex;           /* serializes changes */
  Snapshot *snap;
  double threshold;
  guint next_class_id;          /* under write_mutex */
};

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_THRESHOLD,
  PROP_N_EXAMPLES,
  PROP_N_CLASSES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (HyrsmSupportSet, hyrsm_support_set, G_TYPE_OBJECT)

/* ---- tokens ---- */

static void
derived_clear (Derived *d)
{
  g_clear_pointer (&d->s, g_free);
  g_clear_pointer (&d->u, g_free);
  g_clear_pointer (&d->w2a_s, g_free);
  g_clear_pointer (&d->qkv, g_free);
}

static void
example_unref (gpointer data)
{
  Example *ex = data;
  if (!g_atomic_ref_count_dec (&ex->ref))
    return;
  g_free (ex->features);
  derived_clear (&ex->d);
  g_free (ex);
}

static void
class_unref (gpointer data)
{
  Class *cls = data;
  if (!g_atomic_ref_count_dec (&cls->ref))
    return;
  g_free (cls->label);
  derived_clear (&cls->proto);
  g_free (cls);
}

static Snapshot *
snapshot_new (void)
{
  Snapshot *snap = g_new0 (Snapshot, 1);
  g_atomic_ref_count_init (&snap->ref);
  snap->examples = g_ptr_array_new_with_free_func (example_unref);
  snap->classes = g_ptr_array_new_with_free_func (class_unref);
  g_mutex_init (&snap->inter_lock);
  return snap;
}

static void
snapshot_unref (Snapshot *snap)
{
  if (!g_atomic_ref_count_dec (&snap->ref))
    return;
  g_ptr_array_unref (snap->examples);
  g_ptr_array_unref (snap->classes);
  hyrsm_inter_support_free (snap->inter);
  g_mutex_clear (&snap->inter_lock);
  g_free (snap);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Snapshot, snapshot_unref)

/* The current snapshot (a new reference) and, if @threshold is not NULL,
 * the threshold. */
static Snapshot *
acquire (HyrsmSupportSet *self, double *threshold)
{
  g_mutex_lock (&self->lock);
  Snapshot *snap = self->snap;
  g_atomic_ref_count_inc (&snap->ref);
  if (threshold)
    *threshold = self->threshold;
  g_mutex_unlock (&self->lock);
  return snap;
}

/* Publishes @next (taking the reference) and drops the set's reference to
 * the previous snapshot. Called with write_mutex held. */
static void
publish (HyrsmSupportSet *self, Snapshot *next)
{
  g_mutex_lock (&self->lock);
  Snapshot *prev = self->snap;
  self->snap = next;
  g_mutex_unlock (&self->lock);
  snapshot_unref (prev);
}

/* A new snapshot holding the examples of @snap except those of class
 * @skip_class (G_MAXUINT: none), and its classes except @skip_class. */
static Snapshot *
snapshot_copy (const Snapshot *snap, guint skip_class)
{
  Snapshot *next = snapshot_new ();
  for (guint e = 0; e < snap->examples->len; e++) {
    Example *ex = g_ptr_array_index (snap->examples, e);
    if (ex->class_id == skip_class)
      continue;
    g_atomic_ref_count_inc (&ex->ref);
    g_ptr_array_add (next->examples, ex);
  }
  for (guint c = 0; c < snap->classes->len; c++) {
    Class *cls = g_ptr_array_index (snap->classes, c);
    if (cls->id == skip_class)
      continue;
    g_atomic_ref_count_inc (&cls->ref);
    g_ptr_array_add (next->classes, cls);
  }
  return next;
}

/* Fills d->u, d->w2a_s and d->qkv from d->s (already set). */
static gboolean
derive_from_intra (HyrsmSupportSet *self, Derived *d, GError **error)
{
  int D = self->dim;
  d->u = g_new (float, D);
  d->w2a_s = g_new (float, (gsize) self->frames * D);
  d->qkv = g_new (float, 3 * (gsize) D);
  hyrsm_relation_token_mean (self->rel, d->s, d->u);
  return hyrsm_relation_fuse_frames_and_token_qkv (self->rel, d->s, d->u, 1,
      d->w2a_s, d->qkv, d->qkv + D, d->qkv + 2 * D, error);
}

static gboolean
derive (HyrsmSupportSet *self, const float *features, Derived *d,
    GError **error)
{
  d->s = g_new (float, (gsize) self->frames * self->dim);
  return hyrsm_relation_intra (self->rel, features, d->s, error)
      && derive_from_intra (self, d, error);
}

/* The prototype of @cls of @snap (NULL: a new class) with @extra added:
 * the frame-wise mean of S over its examples (docs/model.md section 5). */
static gboolean
compute_prototype (HyrsmSupportSet *self, const Snapshot *snap,
    const Class *cls, const Example *extra, Derived *proto, GError **error)
{
  gsize n = (gsize) self->frames * self->dim;
  if (cls == NULL) {
    proto->s = g_memdup2 (extra->d.s, n * sizeof (float));
    proto->u = g_memdup2 (extra->d.u, self->dim * sizeof (float));
    proto->w2a_s = g_memdup2 (extra->d.w2a_s, n * sizeof (float));
    proto->qkv = g_memdup2 (extra->d.qkv, 3 * self->dim * sizeof (float));
    return TRUE;
  }
  double *sum = g_new0 (double, n);
  guint count = 0;
  for (guint e = 0; e <= snap->examples->len; e++) {
    const Example *ex = e < snap->examples->len ?
        g_ptr_array_index (snap->examples, e) : extra;
    if (ex != extra && ex->class_id != cls->id)
      continue;
    for (gsize i = 0; i < n; i++)
      sum[i] += ex->d.s[i];
    count++;
  }
  proto->s = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    proto->s[i] = (float) (sum[i] / count);
  g_free (sum);
  return derive_from_intra (self, proto, error);
}

/* The class of @label in @snap (and its index), or NULL. */
static Class *
find_class (const Snapshot *snap, const char *label, guint *index)
{
  for (guint c = 0; c < snap->classes->len; c++) {
    Class *cls = g_ptr_array_index (snap->classes, c);
    if (strcmp (cls->label, label) == 0) {
      if (index)
        *index = c;
      return cls;
    }
  }
  return NULL;
}

/* ---- argument checks ---- */

static gboolean
check_size (HyrsmSupportSet *self, const char *what, gsize n_bytes,
    GError **error)
{
  gsize want = (gsize) self->frames * self->dim * sizeof (float);
  if (n_bytes != want) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: expected T x D = %d x %d float32 (%" G_GSIZE_FORMAT " bytes), "
        "got %" G_GSIZE_FORMAT " bytes", what, self->frames, self->dim, want,
        n_bytes);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_finite (HyrsmSupportSet *self, const char *what, const float *x,
    GError **error)
{
  gsize n = (gsize) self->frames * self->dim;
  for (gsize i = 0; i < n; i++)
    if (!isfinite (x[i])) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
          "%s: value at frame %d, channel %d is not finite", what,
          (int) (i / self->dim), (int) (i % self->dim));
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_label (const char *label, GError **error)
{
  if (label == NULL || *label == '\0') {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "a support example needs a non-empty label");
    return FALSE;
  }
  if (!g_utf8_validate (label, -1, NULL)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "label is not valid UTF-8");
    return FALSE;
  }
  return TRUE;
}

/* The float data of @bytes, copied into @copy when misaligned. */
static const float *
bytes_as_floats (GBytes *bytes, float **copy)
{
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);
  *copy = NULL;
  if (((guintptr) data) % G_ALIGNOF (float) == 0)
    return data;
  *copy = g_malloc (size);
  memcpy (*copy, data, size);
  return *copy;
}

/* ---- public API ---- */

/**
 * HyrsmSupportSet:
 *
 * A support set: labelled example videos, each given as T x D float32
 * backbone features (see #HyrsmModel:frames and #HyrsmModel:feature-dim),
 * and matching of query videos against them with the model's relation
 * head and the Bi-MHM metric.
 *
 * Classes keep the order in which their label was first added. With a
 * 1-shot head every example is a token of the relation; with a 5-shot head
 * (or a head of unnamed kind when some class has more than one example)
 * each class is one token, the mean of its examples. A model without a
 * relation head matches the raw features. What does not depend on the
 * query is computed once: each example's own terms when it is added, the
 * terms between the supports at the first match after the set changed.
 * match_batch() matches many queries with each relation weight read once.
 *
 * match() and match_batch() may run in any number of threads at once, also
 * while another thread adds or removes examples.
 */

/**
 * hyrsm_support_set_new:
 * @model: the model whose features the examples are and whose relation
 *   head matches them
 *
 * Returns: (transfer full): a new, empty support set
 */
HyrsmSupportSet *
hyrsm_support_set_new (HyrsmModel *model)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (model), NULL);
  return g_object_new (HYRSM_TYPE_SUPPORT_SET, "model", model, NULL);
}

/**
 * hyrsm_support_set_get_model:
 * @self: a #HyrsmSupportSet
 *
 * Returns: (transfer none): the model
 */
HyrsmModel *
hyrsm_support_set_get_model (HyrsmSupportSet *self)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  return self->model;
}

/**
 * hyrsm_support_set_add_raw: (skip)
 * @self: a #HyrsmSupportSet
 * @label: the example's action label (non-empty UTF-8)
 * @features: (array): T x D float32 backbone features of one video
 * @error: return location for a #GError
 *
 * Like hyrsm_support_set_add(), with the features as a float array of
 * exactly T x D values.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_support_set_add_raw (HyrsmSupportSet *self, const char *label,
    const float *features, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), FALSE);
  g_return_val_if_fail (features != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_label (label, error))
    return FALSE;
  g_autofree char *what = g_strdup_printf ("features of \"%s\"", label);
  if (!check_finite (self, what, features, error))
    return FALSE;

  gsize n = (gsize) self->frames * self->dim;
  Example *ex = g_new0 (Example, 1);
  g_atomic_ref_count_init (&ex->ref);
  ex->features = g_memdup2 (features, n * sizeof (float));
  if (self->rel && !derive (self, features, &ex->d, error)) {
    example_unref (ex);
    return FALSE;
  }

  g_mutex_lock (&self->write_mutex);
  /* Only writers replace self->snap, and we are the writer. */
  Snapshot *cur = self->snap;
  guint index = 0;
  Class *old = find_class (cur, label, &index);
  Class *cls = g_new0 (Class, 1);
  g_atomic_ref_count_init (&cls->ref);
  cls->id = old ? old->id : self->next_class_id++;
  cls->label = g_strdup (label);
  cls->n_examples = old ? old->n_examples + 1 : 1;
  if (self->keep_prototypes
      && !compute_prototype (self, cur, old, ex, &cls->proto, error)) {
    g_mutex_unlock (&self->write_mutex);
    class_unref (cls);
    example_unref (ex);
    return FALSE;
  }
  ex->class_id = cls->id;
  Snapshot *next = snapshot_copy (cur, G_MAXUINT);
  if (old) {
    class_unref (g_ptr_array_index (next->classes, index));
    g_ptr_array_index (next->classes, index) = cls;
  } else {
    g_ptr_array_add (next->classes, cls);
  }
  g_ptr_array_add (next->examples, ex);
  publish (self, next);
  g_mutex_unlock (&self->write_mutex);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_EXAMPLES]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CLASSES]);
  return TRUE;
}

/**
 * hyrsm_support_set_add:
 * @self: a #HyrsmSupportSet
 * @label: the example's action label (non-empty UTF-8)
 * @features: T x D float32 backbone features of one video (native byte
 *   order, frame-major), as hyrsm_model_embed_frames() gives them
 * @error: return location for a #GError
 *
 * Adds one example of @label. Its intra-relation output and what else does
 * not depend on the query are computed now; with the 5-shot rule the
 * class's prototype is updated too.
 *
 * Returns: %TRUE on success, %FALSE with @error set (%HYRSM_ERROR_SHAPE_MISMATCH
 *   when @features is not T x D x 4 bytes, %HYRSM_ERROR_INVALID_ARGUMENT for
 *   an empty label or a non-finite value)
 */
gboolean
hyrsm_support_set_add (HyrsmSupportSet *self, const char *label,
    GBytes *features, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), FALSE);
  g_return_val_if_fail (features != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_label (label, error))
    return FALSE;
  g_autofree char *what = g_strdup_printf ("features of \"%s\"", label);
  if (!check_size (self, what, g_bytes_get_size (features), error))
    return FALSE;
  g_autofree float *copy = NULL;
  return hyrsm_support_set_add_raw (self, label, bytes_as_floats (features,
          &copy), error);
}

/**
 * hyrsm_support_set_remove_label:
 * @self: a #HyrsmSupportSet
 * @label: a label of the set
 * @error: return location for a #GError
 *
 * Removes every example of @label (and so the class).
 *
 * Returns: %TRUE on success, %FALSE with @error set
 *   (%HYRSM_ERROR_UNKNOWN_LABEL when no example has @label)
 */
gboolean
hyrsm_support_set_remove_label (HyrsmSupportSet *self, const char *label,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_label (label, error))
    return FALSE;

  g_mutex_lock (&self->write_mutex);
  Class *cls = find_class (self->snap, label, NULL);
  if (cls == NULL) {
    g_mutex_unlock (&self->write_mutex);
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNKNOWN_LABEL,
        "the support set has no examples of \"%s\"", label);
    return FALSE;
  }
  publish (self, snapshot_copy (self->snap, cls->id));
  g_mutex_unlock (&self->write_mutex);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_EXAMPLES]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CLASSES]);
  return TRUE;
}

/**
 * hyrsm_support_set_get_n_examples:
 * @self: a #HyrsmSupportSet
 *
 * Returns: the number of examples, over all labels
 */
guint
hyrsm_support_set_get_n_examples (HyrsmSupportSet *self)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), 0);
  g_autoptr (Snapshot) snap = acquire (self, NULL);
  return snap->examples->len;
}

/**
 * hyrsm_support_set_get_n_classes:
 * @self: a #HyrsmSupportSet
 *
 * Returns: the number of distinct labels
 */
guint
hyrsm_support_set_get_n_classes (HyrsmSupportSet *self)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), 0);
  g_autoptr (Snapshot) snap = acquire (self, NULL);
  return snap->classes->len;
}

static char **
snapshot_labels (const Snapshot *snap)
{
  char **labels = g_new0 (char *, snap->classes->len + 1);
  for (guint c = 0; c < snap->classes->len; c++)
    labels[c] = g_strdup (((Class *) g_ptr_array_index (snap->classes,
                c))->label);
  return labels;
}

/**
 * hyrsm_support_set_get_labels:
 * @self: a #HyrsmSupportSet
 *
 * Returns: (transfer full) (array zero-terminated=1): the distinct labels in
 *   the order they were first added; free with g_strfreev()
 */
char **
hyrsm_support_set_get_labels (HyrsmSupportSet *self)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_autoptr (Snapshot) snap = acquire (self, NULL);
  return snapshot_labels (snap);
}

/**
 * hyrsm_support_set_set_threshold:
 * @self: a #HyrsmSupportSet
 * @threshold: the class distance above which a match is "unknown"; <= 0
 *   disables
 *
 * Sets #HyrsmSupportSet:threshold for the matches that start afterwards.
 */
void
hyrsm_support_set_set_threshold (HyrsmSupportSet *self, double threshold)
{
  g_return_if_fail (HYRSM_IS_SUPPORT_SET (self));
  g_mutex_lock (&self->lock);
  gboolean changed = self->threshold != threshold;
  self->threshold = threshold;
  g_mutex_unlock (&self->lock);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THRESHOLD]);
}

/**
 * hyrsm_support_set_get_threshold:
 * @self: a #HyrsmSupportSet
 *
 * Returns: the threshold (<= 0: disabled)
 */
double
hyrsm_support_set_get_threshold (HyrsmSupportSet *self)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), 0);
  g_mutex_lock (&self->lock);
  double threshold = self->threshold;
  g_mutex_unlock (&self->lock);
  return threshold;
}

/* ---- matching ---- */

/* Whether the 5-shot rule applies to @snap. */
static gboolean
use_prototypes (HyrsmSupportSet *self, const Snapshot *snap)
{
  if (self->head_kind == HYRSM_HEAD_5SHOT)
    return TRUE;
  if (self->head_kind != HYRSM_HEAD_AUTO)
    return FALSE;
  for (guint c = 0; c < snap->classes->len; c++)
    if (((Class *) g_ptr_array_index (snap->classes, c))->n_examples > 1)
      return TRUE;
  return FALSE;
}

/* Queries matched together at most: bounds the memory of a batch (their
 * intra-relation buffers); the weights are read once per group. */
#define MAX_GROUP 32
/* Token rows per W2b product: queries against few tokens share it, a query
 * against many tokens has its own. */
#define FUSE_ROWS 512

/* The inter-relation terms of @snap's @M tokens, made on first use (the
 * first match of a snapshot waits for them, later ones share them). */
static const HyrsmInterSupport *
snapshot_inter (HyrsmSupportSet *self, Snapshot *snap,
    const Derived *const *tokens, int M, GError **error)
{
  g_mutex_lock (&snap->inter_lock);
  if (snap->inter == NULL) {
    gsize D = self->dim;
    float *u = g_new (float, M * D);
    float *q = g_new (float, M * D);
    float *k = g_new (float, M * D);
    float *v = g_new (float, M * D);
    for (int m = 0; m < M; m++) {
      memcpy (u + m * D, tokens[m]->u, D * sizeof (float));
      memcpy (q + m * D, tokens[m]->qkv, D * sizeof (float));
      memcpy (k + m * D, tokens[m]->qkv + D, D * sizeof (float));
      memcpy (v + m * D, tokens[m]->qkv + 2 * D, D * sizeof (float));
    }
    snap->inter = hyrsm_inter_support_new_take (self->rel, u, q, k, v, M,
        error);
  }
  const HyrsmInterSupport *inter = snap->inter;
  g_mutex_unlock (&snap->inter_lock);
  return inter;
}

/* Every token's Bi-MHM distance to each of @n queries (@token_dist: n x M)
 * through the relation head (docs/model.md sections 4 to 6); @trace (only with
 * n = 1) gets the intermediates. */
static gboolean
relation_distances (HyrsmSupportSet *self, const HyrsmInterSupport *inter,
    const Derived *const *tokens, int M, const float *queries, int n,
    double *token_dist, HyrsmMatchTrace *trace, GError **error)
{
  const HyrsmRelation *rel = self->rel;
  int T = self->frames, D = self->dim;
  gsize td = (gsize) T * D, row = (gsize) (M + 1) * D;
  int chunk = CLAMP (FUSE_ROWS / (M + 1), 1, n);
  /* the large ones kept by this thread from match to match */
  float *s_q = hyrsm_scratch_get (HYRSM_SCRATCH_QUERY_S,
      n * td * sizeof (float));
  float *w2a_q = hyrsm_scratch_get (HYRSM_SCRATCH_QUERY_W2A_S,
      n * td * sizeof (float));
  float *g = hyrsm_scratch_get (HYRSM_SCRATCH_TOKEN_G,
      chunk * row * sizeof (float));
  float *tok = hyrsm_scratch_get (HYRSM_SCRATCH_TOKEN_FUSED,
      chunk * row * sizeof (float));
  double *e_q = hyrsm_scratch_get (HYRSM_SCRATCH_QUERY_E,
      chunk * td * sizeof (double));
  float *u_q = g_new (float, (gsize) n * D);
  double *norms = g_new (double, (gsize) chunk * T);
  HyrsmInterQueries *iq = NULL;
  gboolean ok = FALSE;

  /* The queries' own terms, each weight read once for all of them. */
  if (!hyrsm_relation_intra_batch (rel, queries, n, s_q, error))
    goto out;
  for (int b = 0; b < n; b++)
    hyrsm_relation_token_mean (rel, s_q + b * td, u_q + (gsize) b * D);
  gsize nd = (gsize) n * D;
  float *qkv = g_new (float, 3 * nd);   /* Q, K, V blocks; iq takes it */
  if (!hyrsm_relation_fuse_frames_and_token_qkv (rel, s_q, u_q, n, w2a_q,
          qkv, qkv + nd, qkv + 2 * nd, error)) {
    g_free (qkv);
    goto out;
  }
  iq = hyrsm_inter_queries_new_take (rel, inter, u_q, qkv, n, error);
  if (iq == NULL)
    goto out;

  for (int b0 = 0; b0 < n; b0 += chunk) {
    int nb = MIN (chunk, n - b0);
    /* g of every token for each query (the query's row last), then
     * W2b g + b2 for all of them in one product */
    hyrsm_inter_support_rows (rel, inter, iq, b0, nb, g, row);
    for (int b = 0; b < nb; b++)
      memcpy (g + b * row + (gsize) M * D, hyrsm_inter_queries_peek_g (iq,
              b0 + b), D * sizeof (float));
    if (!hyrsm_relation_fuse_tokens (rel, g, nb * (M + 1), tok, error))
      goto out;
    /* every query's E, then every (query, token) pair's Bi-MHM in one
     * parallel region */
    for (int b = 0; b < nb; b++)
      hyrsm_relation_fuse_rows_f64 (rel, w2a_q + (b0 + b) * td,
          tok + b * row + (gsize) M * D, e_q + b * td, norms + (gsize) b * T);
#pragma omp parallel for schedule(dynamic, 4)
    for (int item = 0; item < nb * M; item++) {
      int b = item / M, m = item % M;
      token_dist[(gsize) (b0 + b) * M + m] = hyrsm_bimhm_fused (rel,
          tokens[m]->w2a_s, tok + b * row + (gsize) m * D, e_q + b * td,
          norms + (gsize) b * T);
    }
  }
  if (trace) {
    trace->g = g_memdup2 (g, row * sizeof (float));
    trace->e = g_new (float, (M + 1) * td);
    for (int m = 0; m < M; m++)
      hyrsm_relation_fuse_add (rel, tokens[m]->w2a_s, tok + (gsize) m * D,
          trace->e + m * td);
    hyrsm_relation_fuse_add (rel, w2a_q, tok + (gsize) M * D,
        trace->e + M * td);
  }
  ok = TRUE;

out:
  hyrsm_inter_queries_free (iq);
  g_free (u_q);
  g_free (norms);
  return ok;
}

/* Backbone-only model: Bi-MHM on the raw features of every example. */
static void
raw_distances (HyrsmSupportSet *self, const Snapshot *snap,
    const float *query, double *token_dist, HyrsmMatchTrace *trace)
{
  int T = self->frames, D = self->dim;
  gsize td = (gsize) T * D;
  guint M = snap->examples->len;
  double *norms = g_new (double, 2 * T);
  hyrsm_row_norms (query, T, D, norms + T);
  for (guint m = 0; m < M; m++) {
    const Example *ex = g_ptr_array_index (snap->examples, m);
    hyrsm_row_norms (ex->features, T, D, norms);
    token_dist[m] = hyrsm_bimhm (ex->features, norms, query, norms + T, T, D);
  }
  if (trace) {
    trace->e = g_new (float, td * (M + 1));
    for (guint m = 0; m < M; m++)
      memcpy (trace->e + m * td, ((Example *) g_ptr_array_index
              (snap->examples, m))->features, td * sizeof (float));
    memcpy (trace->e + M * td, query, td * sizeof (float));
  }
  g_free (norms);
}

static guint
class_index (const Snapshot *snap, guint class_id)
{
  for (guint c = 0; c < snap->classes->len; c++)
    if (((Class *) g_ptr_array_index (snap->classes, c))->id == class_id)
      return c;
  g_assert_not_reached ();
  return 0;
}

/* Matches @n queries (n x T x D) against @snap: @results[i] gets query i's
 * result. @trace (only with n = 1) gets the intermediates. */
static gboolean
match_snapshot (HyrsmSupportSet *self, Snapshot *snap, const float *queries,
    int n, double threshold, HyrsmMatchResult **results,
    HyrsmMatchTrace *trace, GError **error)
{
  guint n_classes = snap->classes->len;
  if (n_classes == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
        "cannot match a query: the support set has no examples");
    return FALSE;
  }
  gsize td = (gsize) self->frames * self->dim;
  gboolean prototypes = self->rel && use_prototypes (self, snap);
  guint M = prototypes ? n_classes : snap->examples->len;
  const Derived **tokens = g_new (const Derived *, M);
  guint *token_class = g_new (guint, M);
  double *token_dist = g_new (double, (gsize) n * M);
  for (guint m = 0; m < M; m++) {
    if (prototypes) {
      tokens[m] = &((Class *) g_ptr_array_index (snap->classes, m))->proto;
      token_class[m] = m;
    } else {
      const Example *ex = g_ptr_array_index (snap->examples, m);
      tokens[m] = &ex->d;
      token_class[m] = class_index (snap, ex->class_id);
    }
  }

  gboolean ok = TRUE;
  if (self->rel) {
    const HyrsmInterSupport *inter = snapshot_inter (self, snap, tokens, M,
        error);
    for (int b0 = 0; ok && b0 < n; b0 += MAX_GROUP)
      ok = inter != NULL && relation_distances (self, inter, tokens, M,
          queries + b0 * td, MIN (MAX_GROUP, n - b0), token_dist + (gsize) b0 *
          M, trace, error);
  } else {
    for (int b = 0; b < n; b++)
      raw_distances (self, snap, queries + b * td, token_dist + (gsize) b * M,
          trace);
  }
  if (!ok)
    goto out;

  /* class distance: the mean over the class's tokens */
  guint *counts = g_new0 (guint, n_classes);
  for (guint m = 0; m < M; m++)
    counts[token_class[m]]++;
  for (int b = 0; b < n; b++) {
    double *distances = g_new0 (double, n_classes);
    for (guint m = 0; m < M; m++)
      distances[token_class[m]] += token_dist[(gsize) b * M + m];
    for (guint c = 0; c < n_classes; c++)
      distances[c] /= counts[c];
    results[b] = hyrsm_match_result_new_take (snapshot_labels (snap),
        distances, n_classes, threshold);
  }
  g_free (counts);
  if (trace) {
    trace->n_tokens = M;
    trace->prototypes = prototypes;
    trace->token_distances = g_steal_pointer (&token_dist);
  }

out:
  g_free (tokens);
  g_free (token_class);
  g_free (token_dist);
  return ok;
}

/* The checks and the snapshot of every match entry point. */
static gboolean
match_checked (HyrsmSupportSet *self, const float *queries, guint n,
    HyrsmMatchResult **results, HyrsmMatchTrace *trace, GError **error)
{
  gsize td = (gsize) self->frames * self->dim;
  for (guint b = 0; b < n; b++) {
    g_autofree char *what = n == 1 ? g_strdup ("query") :
        g_strdup_printf ("query %u", b);
    if (!check_finite (self, what, queries + b * td, error))
      return FALSE;
  }
  if (n == 0)
    return TRUE;
  double threshold;
  g_autoptr (Snapshot) snap = acquire (self, &threshold);
  return match_snapshot (self, snap, queries, (int) n, threshold, results,
      trace, error);
}

HyrsmMatchResult *
hyrsm_support_set_match_traced (HyrsmSupportSet *self, const float *query,
    HyrsmMatchTrace **trace, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_return_val_if_fail (query != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  HyrsmMatchTrace *t = trace ? g_new0 (HyrsmMatchTrace, 1) : NULL;
  HyrsmMatchResult *result = NULL;
  gboolean ok = match_checked (self, query, 1, &result, t, error);
  if (trace) {
    if (ok)
      *trace = t;
    else
      hyrsm_match_trace_free (t);
  }
  return result;
}

/**
 * hyrsm_support_set_match_raw: (skip)
 * @self: a #HyrsmSupportSet
 * @query: (array): T x D float32 backbone features of the query video
 * @error: return location for a #GError
 *
 * Like hyrsm_support_set_match(), with the query as a float array of
 * exactly T x D values.
 *
 * Returns: (transfer full): the result, or %NULL with @error set
 */
HyrsmMatchResult *
hyrsm_support_set_match_raw (HyrsmSupportSet *self, const float *query,
    GError **error)
{
  return hyrsm_support_set_match_traced (self, query, NULL, error);
}

/**
 * hyrsm_support_set_match:
 * @self: a #HyrsmSupportSet
 * @query: T x D float32 backbone features of the query video
 * @error: return location for a #GError
 *
 * Matches @query against every class: intra-relation of the query,
 * inter-relation with all support tokens, fuse, and the Bi-MHM distance to
 * each token, averaged per class (docs/model.md sections 4 to 6).
 *
 * Returns: (transfer full): the result, or %NULL with @error set
 *   (%HYRSM_ERROR_EMPTY_SUPPORT_SET when the set has no examples,
 *   %HYRSM_ERROR_SHAPE_MISMATCH when @query is not T x D x 4 bytes)
 */
HyrsmMatchResult *
hyrsm_support_set_match (HyrsmSupportSet *self, GBytes *query,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_return_val_if_fail (query != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_size (self, "query", g_bytes_get_size (query), error))
    return NULL;
  g_autofree float *copy = NULL;
  return hyrsm_support_set_match_traced (self, bytes_as_floats (query,
          &copy), NULL, error);
}

/**
 * hyrsm_support_set_match_batch_raw: (skip)
 * @self: a #HyrsmSupportSet
 * @queries: (array): @n_queries x T x D float32 backbone features
 * @n_queries: the number of query videos
 * @results: (out caller-allocates) (array length=n_queries): where each
 *   query's result goes (transfer full), untouched on failure
 * @error: return location for a #GError
 *
 * Like hyrsm_support_set_match_batch(), with the queries as a float array.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_support_set_match_batch_raw (HyrsmSupportSet *self,
    const float *queries, guint n_queries, HyrsmMatchResult **results,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), FALSE);
  g_return_val_if_fail (queries != NULL || n_queries == 0, FALSE);
  g_return_val_if_fail (results != NULL || n_queries == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return match_checked (self, queries, n_queries, results, NULL, error);
}

/**
 * hyrsm_support_set_match_batch:
 * @self: a #HyrsmSupportSet
 * @queries: the T x D float32 backbone features of several query videos,
 *   one after the other (B x T x D values)
 * @error: return location for a #GError
 *
 * Matches every query of @queries as hyrsm_support_set_match() does, all
 * against the same state of the set, with the relation head run once for
 * the batch: each weight is read once for all the queries, so a batch
 * costs much less per query than as many single matches. The distances
 * are those of hyrsm_support_set_match() for each query.
 *
 * Returns: (transfer container) (element-type HyrsmMatchResult): the
 *   result of each query, in order (empty for empty @queries); the array
 *   holds the results' references (free it with g_ptr_array_unref()), or
 *   %NULL with @error
 *   set (%HYRSM_ERROR_SHAPE_MISMATCH when the size of @queries is not a
 *   multiple of T x D x 4 bytes, %HYRSM_ERROR_EMPTY_SUPPORT_SET,
 *   %HYRSM_ERROR_INVALID_ARGUMENT for a non-finite value)
 */
GPtrArray *
hyrsm_support_set_match_batch (HyrsmSupportSet *self, GBytes *queries,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_return_val_if_fail (queries != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  gsize size = g_bytes_get_size (queries);
  gsize per = (gsize) self->frames * self->dim * sizeof (float);
  if (size % per != 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "queries: expected a whole number of T x D = %d x %d float32 "
        "videos (%" G_GSIZE_FORMAT " bytes each), got %" G_GSIZE_FORMAT
        " bytes", self->frames, self->dim, per, size);
    return NULL;
  }
  guint n = size / per;
  g_autofree float *copy = NULL;
  const float *data = bytes_as_floats (queries, &copy);
  g_autofree HyrsmMatchResult **results = g_new0 (HyrsmMatchResult *,
      MAX (n, 1));
  if (!match_checked (self, data, n, results, NULL, error))
    return NULL;
  GPtrArray *out = g_ptr_array_new_full (n, g_object_unref);
  for (guint b = 0; b < n; b++)
    g_ptr_array_add (out, results[b]);
  return out;
}

const float *
hyrsm_support_set_peek_intra (HyrsmSupportSet *self, guint index)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_autoptr (Snapshot) snap = acquire (self, NULL);
  return index < snap->examples->len ?
      ((Example *) g_ptr_array_index (snap->examples, index))->d.s : NULL;
}

void
hyrsm_match_trace_free (HyrsmMatchTrace *trace)
{
  if (trace == NULL)
    return;
  g_free (trace->g);
  g_free (trace->e);
  g_free (trace->token_distances);
  g_free (trace);
}

/* ---- GObject ---- */

static void
hyrsm_support_set_constructed (GObject *object)
{
  HyrsmSupportSet *self = HYRSM_SUPPORT_SET (object);
  G_OBJECT_CLASS (hyrsm_support_set_parent_class)->constructed (object);
  if (self->model == NULL) {
    g_critical ("HyrsmSupportSet needs a model");
    return;
  }
  self->rel = hyrsm_relation_get (self->model);
  self->head_kind = hyrsm_model_get_head_kind (self->model);
  self->frames = hyrsm_model_get_frames (self->model);
  self->dim = hyrsm_model_get_feature_dim (self->model);
  self->keep_prototypes = self->rel && (self->head_kind == HYRSM_HEAD_5SHOT
      || self->head_kind == HYRSM_HEAD_AUTO);
}

static void
hyrsm_support_set_finalize (GObject *object)
{
  HyrsmSupportSet *self = HYRSM_SUPPORT_SET (object);
  snapshot_unref (self->snap);
  g_clear_object (&self->model);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->write_mutex);
  G_OBJECT_CLASS (hyrsm_support_set_parent_class)->finalize (object);
}

static void
hyrsm_support_set_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  HyrsmSupportSet *self = HYRSM_SUPPORT_SET (object);
  switch (prop_id) {
    case PROP_MODEL:
      self->model = g_value_dup_object (value);
      break;
    case PROP_THRESHOLD:
      hyrsm_support_set_set_threshold (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
hyrsm_support_set_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  HyrsmSupportSet *self = HYRSM_SUPPORT_SET (object);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_object (value, self->model);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, hyrsm_support_set_get_threshold (self));
      break;
    case PROP_N_EXAMPLES:
      g_value_set_uint (value, hyrsm_support_set_get_n_examples (self));
      break;
    case PROP_N_CLASSES:
      g_value_set_uint (value, hyrsm_support_set_get_n_classes (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
hyrsm_support_set_class_init (HyrsmSupportSetClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->constructed = hyrsm_support_set_constructed;
  object_class->finalize = hyrsm_support_set_finalize;
  object_class->set_property = hyrsm_support_set_set_property;
  object_class->get_property = hyrsm_support_set_get_property;

  /**
   * HyrsmSupportSet:model:
   *
   * The model the examples' features come from and whose relation head
   * matches them.
   */
  properties[PROP_MODEL] = g_param_spec_object ("model", "Model",
      "The model", HYRSM_TYPE_MODEL,
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * HyrsmSupportSet:threshold:
   *
   * Class distance above which a match's label is "unknown"; <= 0
   * disables.
   */
  properties[PROP_THRESHOLD] = g_param_spec_double ("threshold", "Threshold",
      "Distance above which a match is \"unknown\" (<= 0: disabled)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0,
      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * HyrsmSupportSet:n-examples:
   *
   * The number of examples.
   */
  properties[PROP_N_EXAMPLES] = g_param_spec_uint ("n-examples", "Examples",
      "The number of examples", 0, G_MAXUINT, 0,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * HyrsmSupportSet:n-classes:
   *
   * The number of distinct labels.
   */
  properties[PROP_N_CLASSES] = g_param_spec_uint ("n-classes", "Classes",
      "The number of distinct labels", 0, G_MAXUINT, 0,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hyrsm_support_set_init (HyrsmSupportSet *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->write_mutex);
  self->snap = snapshot_new ();
}
