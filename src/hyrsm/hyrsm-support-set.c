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
#include "hyrsm-support-snapshot.h"
#include "hyrsm-error.h"
#include "hyrsm-model-private.h"
#include "hyrsm-relation.h"
#include "hyrsm-scratch.h"

#include <math.h>
#include <string.h>

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

void
hyrsm_support_snapshot_unref (Snapshot *snap)
{
  if (!g_atomic_ref_count_dec (&snap->ref))
    return;
  g_ptr_array_unref (snap->examples);
  g_ptr_array_unref (snap->classes);
  hyrsm_inter_support_free (snap->inter);
  g_mutex_clear (&snap->inter_lock);
  g_free (snap);
}


/* The current snapshot (a new reference) and, if @threshold is not NULL,
 * the threshold. */
Snapshot *
hyrsm_support_snapshot_acquire (HyrsmSupportSet *self, double *threshold)
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
  hyrsm_support_snapshot_unref (prev);
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

gboolean
hyrsm_support_check_size (HyrsmSupportSet *self, const char *what, gsize n_bytes,
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

gboolean
hyrsm_support_check_finite (HyrsmSupportSet *self, const char *what, const float *x,
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
const float *
hyrsm_support_bytes_as_floats (GBytes *bytes, float **copy)
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
  if (!hyrsm_support_check_finite (self, what, features, error))
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
  if (!hyrsm_support_check_size (self, what, g_bytes_get_size (features), error))
    return FALSE;
  g_autofree float *copy = NULL;
  return hyrsm_support_set_add_raw (self, label, hyrsm_support_bytes_as_floats (features,
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
  g_autoptr (Snapshot) snap = hyrsm_support_snapshot_acquire (self, NULL);
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
  g_autoptr (Snapshot) snap = hyrsm_support_snapshot_acquire (self, NULL);
  return snap->classes->len;
}

char **
hyrsm_support_snapshot_labels (const Snapshot *snap)
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
  g_autoptr (Snapshot) snap = hyrsm_support_snapshot_acquire (self, NULL);
  return hyrsm_support_snapshot_labels (snap);
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
  hyrsm_support_snapshot_unref (self->snap);
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
