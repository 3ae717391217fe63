/* hyrsm-match-result.c: HyrsmMatchResult, the immutable outcome of one
 * query: per-class distances in the support set's class order, the best
 * class, its confidence (softmax of -distance) and the threshold verdict. */
#include "hyrsm-match-result.h"
#include "hyrsm-support-set-private.h"

#include <math.h>

/**
 * HyrsmMatchResult:
 *
 * What hyrsm_support_set_match() found for one query: a distance per class
 * (smaller is closer), in the order the classes were first added to the
 * support set, and the best class.
 *
 * The label is %HYRSM_UNKNOWN_LABEL ("unknown") when the support set has a
 * positive threshold and the best distance is above it; the best index,
 * distance and confidence still describe the closest class.
 */
struct _HyrsmMatchResult
{
  GObject parent_instance;

  char **labels;                /* n_classes, NULL-terminated */
  double *distances;            /* n_classes */
  guint n_classes;
  guint best;
  double confidence;
  double threshold;
  gboolean unknown;
};

enum
{
  PROP_0,
  PROP_LABEL,
  PROP_DISTANCE,
  PROP_CONFIDENCE,
  PROP_N_CLASSES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (HyrsmMatchResult, hyrsm_match_result, G_TYPE_OBJECT)

HyrsmMatchResult *
hyrsm_match_result_new_take (char **labels, double *distances,
    guint n_classes, double threshold)
{
  g_return_val_if_fail (n_classes > 0, NULL);
  HyrsmMatchResult *self = g_object_new (HYRSM_TYPE_MATCH_RESULT, NULL);
  self->labels = labels;
  self->distances = distances;
  self->n_classes = n_classes;
  self->threshold = threshold;

  guint best = 0;
  for (guint c = 1; c < n_classes; c++)
    if (distances[c] < distances[best])
      best = c;
  self->best = best;
  /* softmax of -distance, taken at the best class (the largest logit) */
  double sum = 0;
  for (guint c = 0; c < n_classes; c++)
    sum += exp (distances[best] - distances[c]);
  self->confidence = 1.0 / sum;
  self->unknown = threshold > 0 && !(distances[best] <= threshold);
  return self;
}

static void
hyrsm_match_result_finalize (GObject *object)
{
  HyrsmMatchResult *self = HYRSM_MATCH_RESULT (object);
  g_strfreev (self->labels);
  g_free (self->distances);
  G_OBJECT_CLASS (hyrsm_match_result_parent_class)->finalize (object);
}

static void
hyrsm_match_result_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  HyrsmMatchResult *self = HYRSM_MATCH_RESULT (object);
  switch (prop_id) {
    case PROP_LABEL:
      g_value_set_string (value, hyrsm_match_result_get_label (self));
      break;
    case PROP_DISTANCE:
      g_value_set_double (value, hyrsm_match_result_get_distance (self));
      break;
    case PROP_CONFIDENCE:
      g_value_set_double (value, self->confidence);
      break;
    case PROP_N_CLASSES:
      g_value_set_uint (value, self->n_classes);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
hyrsm_match_result_class_init (HyrsmMatchResultClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = hyrsm_match_result_finalize;
  object_class->get_property = hyrsm_match_result_get_property;

  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
  /**
   * HyrsmMatchResult:label:
   *
   * The best class's label, or "unknown" (see hyrsm_match_result_get_label()).
   */
  properties[PROP_LABEL] = g_param_spec_string ("label", "Label",
      "The best class, or \"unknown\" when above the threshold", NULL, ro);
  /**
   * HyrsmMatchResult:distance:
   *
   * The best (smallest) class distance.
   */
  properties[PROP_DISTANCE] = g_param_spec_double ("distance", "Distance",
      "The best class distance", -G_MAXDOUBLE, G_MAXDOUBLE, 0, ro);
  /**
   * HyrsmMatchResult:confidence:
   *
   * Softmax of -distance over the classes, at the best class.
   */
  properties[PROP_CONFIDENCE] = g_param_spec_double ("confidence",
      "Confidence", "Softmax of -distance at the best class", 0, 1, 0, ro);
  /**
   * HyrsmMatchResult:n-classes:
   *
   * The number of classes matched against.
   */
  properties[PROP_N_CLASSES] = g_param_spec_uint ("n-classes", "Classes",
      "The number of classes", 0, G_MAXUINT, 0, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hyrsm_match_result_init (HyrsmMatchResult *self)
{
}

/**
 * hyrsm_match_result_get_n_classes:
 * @self: a #HyrsmMatchResult
 *
 * Returns: the number of classes (at least 1)
 */
guint
hyrsm_match_result_get_n_classes (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), 0);
  return self->n_classes;
}

/**
 * hyrsm_match_result_get_labels:
 * @self: a #HyrsmMatchResult
 *
 * The class labels, in the order the classes were first added to the
 * support set; hyrsm_match_result_get_distances() follows the same order.
 *
 * Returns: (transfer none) (array zero-terminated=1): the labels, owned by
 *   @self
 */
const char *const *
hyrsm_match_result_get_labels (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), NULL);
  return (const char *const *) self->labels;
}

/**
 * hyrsm_match_result_get_distances:
 * @self: a #HyrsmMatchResult
 * @n_distances: (out) (optional): return location for the number of
 *   distances (the number of classes)
 *
 * The distance of the query to each class (docs/model.md section 6: the mean
 * Bi-MHM distance over the class's support tokens; smaller is closer), in
 * the order of hyrsm_match_result_get_labels().
 *
 * Returns: (transfer none) (array length=n_distances): the distances,
 *   owned by @self
 */
const double *
hyrsm_match_result_get_distances (HyrsmMatchResult *self, guint *n_distances)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), NULL);
  if (n_distances)
    *n_distances = self->n_classes;
  return self->distances;
}

/**
 * hyrsm_match_result_get_best_index:
 * @self: a #HyrsmMatchResult
 *
 * Returns: the index of the closest class in
 *   hyrsm_match_result_get_labels(), whatever the threshold
 */
guint
hyrsm_match_result_get_best_index (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), 0);
  return self->best;
}

/**
 * hyrsm_match_result_get_label:
 * @self: a #HyrsmMatchResult
 *
 * The closest class's label, or %HYRSM_UNKNOWN_LABEL ("unknown") when the
 * threshold is positive and the best distance is above it.
 *
 * Returns: (transfer none): the label, owned by @self
 */
const char *
hyrsm_match_result_get_label (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), NULL);
  return self->unknown ? HYRSM_UNKNOWN_LABEL : self->labels[self->best];
}

/**
 * hyrsm_match_result_get_distance:
 * @self: a #HyrsmMatchResult
 *
 * Returns: the closest class's distance
 */
double
hyrsm_match_result_get_distance (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), 0);
  return self->distances[self->best];
}

/**
 * hyrsm_match_result_get_confidence:
 * @self: a #HyrsmMatchResult
 *
 * The softmax of -distance over the classes, at the closest class: the
 * probability the model gives its answer (1 / n_classes means no
 * preference, 1 certainty).
 *
 * Returns: the confidence, in (0, 1]
 */
double
hyrsm_match_result_get_confidence (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), 0);
  return self->confidence;
}

/**
 * hyrsm_match_result_get_threshold:
 * @self: a #HyrsmMatchResult
 *
 * Returns: the support set's threshold when the query was matched (<= 0:
 *   none)
 */
double
hyrsm_match_result_get_threshold (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), 0);
  return self->threshold;
}

/**
 * hyrsm_match_result_is_unknown:
 * @self: a #HyrsmMatchResult
 *
 * Returns: %TRUE when the best distance is above a positive threshold, so
 *   that the label is "unknown"
 */
gboolean
hyrsm_match_result_is_unknown (HyrsmMatchResult *self)
{
  g_return_val_if_fail (HYRSM_IS_MATCH_RESULT (self), FALSE);
  return self->unknown;
}
