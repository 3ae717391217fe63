/* hyrsm-support-snapshot.h: what hyrsm-support-set.c (the set: adding,
 * removing, snapshots) and hyrsm-support-match.c (matching queries against
 * a snapshot) share: the set's layout, its immutable snapshots and the
 * argument checks (private to libhyrsm). */
#pragma once

#include "hyrsm-model-private.h"
#include "hyrsm-relation.h"
#include "hyrsm-support-set.h"

G_BEGIN_DECLS

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

/* The current snapshot (a new reference) and, if @threshold is not NULL,
 * the threshold. */
G_GNUC_INTERNAL Snapshot *hyrsm_support_snapshot_acquire (HyrsmSupportSet *self,
    double *threshold);
G_GNUC_INTERNAL void hyrsm_support_snapshot_unref (Snapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Snapshot, hyrsm_support_snapshot_unref)

/* The labels of @snap's classes, first-insertion order (NULL-terminated). */
G_GNUC_INTERNAL char **hyrsm_support_snapshot_labels (const Snapshot *snap);

/* @n_bytes must be T x D floats, and every one finite: errors name @what. */
G_GNUC_INTERNAL gboolean hyrsm_support_check_size (HyrsmSupportSet *self,
    const char *what, gsize n_bytes, GError **error);
G_GNUC_INTERNAL gboolean hyrsm_support_check_finite (HyrsmSupportSet *self,
    const char *what, const float *x, GError **error);

/* The float data of @bytes, copied into @copy when misaligned. */
G_GNUC_INTERNAL const float *hyrsm_support_bytes_as_floats (GBytes *bytes,
    float **copy);

G_END_DECLS
