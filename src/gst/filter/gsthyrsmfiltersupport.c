/* gsthyrsmfiltersupport.c: hyrsmfilter's support sets: the first load at
 * start (or one kept from the last run), loads in the background when
 * `support` changes or `reload` is emitted (one thread at a time, always
 * the newest path asked for), and the `enroll` action signal. */
#include "gsthyrsmfilter-private.h"
#include "gsthyrsmreuse.h"
#include "gsthyrsmsupport.h"
#include "gsthyrsmbundlemqtt.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_hyrsm_filter_debug

/* Loads the support directory @path for @model (@self's). On failure
 * returns FALSE with @error naming the directory. */
static gboolean
load_support (GstHyrsmFilter *self, HyrsmModel *model, const gchar *path,
    HyrsmSupportSet **set, gchar ***labels, GstClockTime *median,
    gchar **signature, GError **error)
{
  /* Taken before loading: a file changed meanwhile makes it stale, so the
   * next start loads again rather than reusing a set older than it. */
  *signature = gst_hyrsm_support_signature (path);
  GstHyrsmSupportDir *dir = gst_hyrsm_support_dir_load (model, path, NULL,
      error);
  if (dir == NULL)
    return FALSE;
  *set = g_object_ref (gst_hyrsm_support_dir_get_support_set (dir));
  *labels = hyrsm_support_set_get_labels (*set);
  *median = gst_hyrsm_support_dir_get_median_duration (dir);
  /* Messages are UTF-8; the path is bytes (see install_support ()). */
  g_autofree gchar *shown = g_filename_display_name (path);
  guint n_skipped = 0;
  gchar **skipped = gst_hyrsm_support_dir_get_skipped (dir);
  for (; skipped && skipped[n_skipped]; n_skipped++)
    GST_WARNING_OBJECT (self, "support set %s: skipped %s", shown,
        skipped[n_skipped]);
  if (n_skipped > 0)
    GST_ELEMENT_WARNING (self, RESOURCE, READ,
        ("%u file(s) of support set \"%s\" could not be used; the first: %s",
            n_skipped, shown, skipped[0]), (NULL));
  g_strfreev (skipped);
  gchar **odd = gst_hyrsm_support_dir_get_warnings (dir);
  if (odd && odd[0])
    GST_ELEMENT_WARNING (self, RESOURCE, READ,
        ("%u example(s) of support set \"%s\" are shorter than a window; "
            "the first: %s", g_strv_length (odd), shown, odd[0]), (NULL));
  g_strfreev (odd);
  g_object_unref (dir);
  return TRUE;
}

/* Swaps @set in, unless the element stopped (or restarted with another
 * model) since @model was taken: then the set is dropped and FALSE
 * returned, as a stopped element must hold no set (nor, through it, the
 * model). Takes @set and @labels either way. */
gboolean
gst_hyrsm_filter_install_support (GstHyrsmFilter *self, HyrsmModel *model,
    const gchar *path,
    HyrsmSupportSet *set, gchar **labels, GstClockTime median,
    gchar *signature)
{
  GST_OBJECT_LOCK (self);
  if (self->model != model) {
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "stopped meanwhile: support set dropped");
    g_object_unref (set);
    g_strfreev (labels);
    g_free (signature);
    return FALSE;
  }
  hyrsm_support_set_set_threshold (set, self->threshold);
  HyrsmSupportSet *old = self->support;
  gchar **old_labels = self->labels;
  self->support = set;
  self->labels = labels;
  self->support_median = median;
  g_free (self->support_in_use);
  self->support_in_use = g_strdup (path);
  g_free (self->support_display);
  self->support_display = g_filename_display_name (path);
  g_free (self->support_signature);
  self->support_signature = signature;
  /* The next window is matched on it (none yet at the first load: start()
   * hands it over when it makes the pipeline). */
  if (self->windows)
    gst_hyrsm_windows_set_support (self->windows, set, self->support_display,
        median);
  GST_OBJECT_UNLOCK (self);
  g_clear_object (&old);
  g_strfreev (old_labels);
  g_object_notify (G_OBJECT (self), "labels");
  return TRUE;
}

/* The background loader: loads self->loader_path until no newer path was
 * asked for meanwhile, then swaps the set in. */
static gpointer
support_loader_thread (gpointer data)
{
  GstHyrsmFilter *self = data;
  for (;;) {
    GST_OBJECT_LOCK (self);
    gchar *path = self->loader_path;
    self->loader_path = NULL;
    /* The model of this run, held for the load: stop() may drop the
     * element's reference meanwhile. */
    HyrsmModel *model = self->model ? g_object_ref (self->model) : NULL;
    if (path == NULL || model == NULL) {
      g_thread_unref (self->loader);
      self->loader = NULL;
      GST_OBJECT_UNLOCK (self);
      g_free (path);
      g_clear_object (&model);
      break;
    }
    GST_OBJECT_UNLOCK (self);

    HyrsmSupportSet *set = NULL;
    gchar **labels = NULL;
    GstClockTime median = GST_CLOCK_TIME_NONE;
    gchar *signature = NULL;
    GError *error = NULL;
    g_autofree gchar *shown = g_filename_display_name (path);
    if (load_support (self, model, path, &set, &labels, &median, &signature,
            &error)) {
      /* @labels belong to the element once installed. */
      guint n_labels = g_strv_length (labels);
      GST_INFO_OBJECT (self, "support set %s loaded: %u labels", path,
          n_labels);
      if (gst_hyrsm_filter_install_support (self, model, path, set, labels,
              median,
              signature))
        gst_element_post_message (GST_ELEMENT (self),
            gst_message_new_element (GST_OBJECT (self),
                gst_structure_new ("hyrsm-support", "path", G_TYPE_STRING,
                    shown, "n-labels", G_TYPE_UINT, n_labels, NULL)));
    } else {
      /* The property goes back to naming the set in use, so that enroll,
       * reload and the next start never act on the path that failed. */
      GST_OBJECT_LOCK (self);
      gboolean revert = self->loader_path == NULL && self->support_in_use
          && g_strcmp0 (self->support_path, path) == 0;
      if (revert) {
        g_free (self->support_path);
        self->support_path = g_strdup (self->support_in_use);
      }
      gchar *in_use = g_strdup (self->support_display);
      GST_OBJECT_UNLOCK (self);
      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Could not load support set \"%s\"; keeping \"%s\".", shown,
              in_use), ("%s", error->message));
      if (revert)
        g_object_notify (G_OBJECT (self), "support");
      g_free (in_use);
      g_free (signature);
      g_error_free (error);
    }
    g_free (path);
    g_object_unref (model);
  }
  gst_object_unref (self);
  return NULL;
}

/* Queues a background (re)load of @path; called with the object lock. */
void
gst_hyrsm_filter_request_support_load_locked (GstHyrsmFilter *self, const gchar *path)
{
  /* A broker's set is the subscriber's (gsthyrsmfiltermqtt.c): switching
   * between a directory and mqtt:// applies at the next start. */
  if (gst_hyrsm_is_mqtt_uri (path)
      || gst_hyrsm_is_mqtt_uri (self->support_in_use)) {
    GST_WARNING_OBJECT (self, "support \"%s\": a broker's set updates "
        "itself; a change to or from mqtt:// applies at the next start",
        path);
    return;
  }
  g_free (self->loader_path);
  self->loader_path = g_strdup (path);
  if (self->loader == NULL)
    self->loader = g_thread_new ("hyrsm-support", support_loader_thread,
        gst_object_ref (self));
}

gboolean
gst_hyrsm_filter_load_initial_support (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->support_path);
  GST_OBJECT_UNLOCK (self);
  if (path == NULL || *path == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No support set given: set the \"support\" property to a directory "
            "with one folder of example clips per action."), (NULL));
    g_free (path);
    return FALSE;
  }
  if (gst_hyrsm_is_mqtt_uri (path)) {
    gboolean ok = gst_hyrsm_filter_mqtt_start (self, path);
    g_free (path);
    return ok;
  }
  /* A restart with the same model and an unchanged directory takes back
   * what the last stop kept (gsthyrsmreuse.c). */
  gchar *signature = gst_hyrsm_support_signature (path);
  GstHyrsmLoaded *kept = gst_hyrsm_reuse_take (self->model, path, signature);
  g_free (signature);
  if (kept) {
    GST_INFO_OBJECT (self, "support set %s: reusing the set loaded before",
        path);
    gst_hyrsm_filter_install_support (self, self->model, path,
        g_steal_pointer (&kept->set),
        g_steal_pointer (&kept->labels), kept->median,
        g_steal_pointer (&kept->signature));
    gst_hyrsm_loaded_free (kept);
    g_free (path);
    return TRUE;
  }

  HyrsmSupportSet *set = NULL;
  gchar **labels = NULL;
  GstClockTime median = GST_CLOCK_TIME_NONE;
  GError *error = NULL;
  gboolean ok = load_support (self, self->model, path, &set, &labels, &median,
      &signature, &error);
  g_autofree gchar *shown = g_filename_display_name (path);
  if (ok) {
    gst_hyrsm_filter_install_support (self, self->model, path, set, labels,
        median, signature);
  } else if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND)
      && g_file_test (path, G_FILE_TEST_EXISTS)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Support set \"%s\" is not a directory of label folders.", shown),
        ("%s", error->message));
  } else if (g_error_matches (error, HYRSM_ERROR,
          HYRSM_ERROR_FILE_NOT_FOUND)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Support set \"%s\" not found.", shown), ("%s", error->message));
  } else {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not load support set \"%s\".", shown), ("%s",
            error->message));
  }
  if (!ok)
    g_free (signature);
  g_clear_error (&error);
  g_free (path);
  return ok;
}

gboolean
gst_hyrsm_filter_enroll (GstHyrsmFilter *self, const gchar *label)
{
  if (label == NULL || *label == '\0' || strchr (label, '/')
      || label[0] == '.') {
    GST_WARNING_OBJECT (self, "enroll: \"%s\" is not a usable label",
        label ? label : "(null)");
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  float *features = self->windows ?
      gst_hyrsm_windows_dup_last_window (self->windows) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (features == NULL) {
    GST_WARNING_OBJECT (self, "enroll \"%s\": no window decided yet", label);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  HyrsmSupportSet *support = self->support ? g_object_ref (self->support) :
      NULL;
  /* Held: stop() in another thread may drop the element's own reference
   * (NULL once stopped: then there is no set either). */
  HyrsmModel *model = self->model ? g_object_ref (self->model) : NULL;
  gchar *dir = g_strdup (self->support_in_use);
  GST_OBJECT_UNLOCK (self);

  GError *error = NULL;
  gboolean ok = support && model && hyrsm_support_set_add_raw (support,
      label, features, &error);
  if (ok && gst_hyrsm_is_mqtt_uri (dir)) {
    /* Shared: the next version of the broker's set. */
    gst_hyrsm_filter_mqtt_publish_enrolled (self, label, features);
  } else if (ok && dir) {
    /* Keep it: a .hyrsm file under the set's folder for that label. */
    gchar *folder = g_build_filename (dir, label, NULL);
    g_autoptr (GDateTime) now = g_date_time_new_now_local ();
    gchar *stamp = g_date_time_format (now, "enrolled-%Y%m%d-%H%M%S");
    gchar *name = g_strdup_printf ("%s-%06d.hyrsm", stamp,
        g_date_time_get_microsecond (now));
    gchar *path = g_build_filename (folder, name, NULL);
    if (g_mkdir_with_parents (folder, 0755) != 0
        || !hyrsm_features_save (path, features, self->frames, self->dim,
            hyrsm_model_get_fingerprint (model), "hyrsmfilter enroll",
            NULL, &error)) {
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("Enrolled \"%s\" for this run, but could not save it under "
              "\"%s\".", label, folder), ("%s", error ? error->message :
              g_strerror (errno)));
      g_clear_error (&error);
    } else {
      GST_INFO_OBJECT (self, "enrolled \"%s\": %s", label, path);
    }
    g_free (path);
    g_free (name);
    g_free (stamp);
    g_free (folder);
  } else if (!ok) {
    GST_WARNING_OBJECT (self, "enroll \"%s\": %s", label, error ?
        error->message : "no support set");
    g_clear_error (&error);
  }
  if (ok && support) {
    GST_OBJECT_LOCK (self);
    if (self->support == support) {
      g_strfreev (self->labels);
      self->labels = hyrsm_support_set_get_labels (support);
    }
    GST_OBJECT_UNLOCK (self);
    g_object_notify (G_OBJECT (self), "labels");
  }
  g_clear_object (&support);
  g_clear_object (&model);
  g_free (dir);
  g_free (features);
  return ok;
}

void
gst_hyrsm_filter_reload (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  if (self->model && self->support_in_use)
    gst_hyrsm_filter_request_support_load_locked (self, self->support_in_use);
  GST_OBJECT_UNLOCK (self);
}
