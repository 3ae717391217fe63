/* gsthyrsmoverlay.c: hyrsmoverlay, draws the latest decision (HyrsmMeta)
 * on the video.
 *
 * The box is rendered with pango/cairo into a small premultiplied ARGB
 * buffer once per decision, wrapped in a GstVideoOverlayComposition, and
 * either blended into each frame in place (only the pixels under the box
 * are touched, in the frame's own format) or attached as
 * GstVideoOverlayCompositionMeta when downstream renders it (as
 * textoverlay does).
 */

/**
 * SECTION:element-hyrsmoverlay
 * @title: hyrsmoverlay
 *
 * Shows the decisions of hyrsmfilter on the video: the label, its
 * confidence and a bar per class; "unknown" when the distance is above the
 * filter's threshold. The last decision stays until the next one.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! hyrsmfilter model=m.safetensors support=actions/ ! hyrsmoverlay ! videoconvert ! autovideosink
 * ]|
 */
#include "gsthyrsmoverlay.h"
#include "gsthyrsmdecision.h"
#include "gsthyrsmmeta.h"

#include <gst/video/video.h>
#include <pango/pangocairo.h>
#include <math.h>

GST_DEBUG_CATEGORY_STATIC (gst_hyrsm_overlay_debug);
#define GST_CAT_DEFAULT gst_hyrsm_overlay_debug

#define DEFAULT_POSITION GST_HYRSM_OVERLAY_TOP_LEFT
#define DEFAULT_FONT_SIZE 0     /* frame height / 20 */
#define DEFAULT_TEXT_COLOR 0xffffffff
#define DEFAULT_UNKNOWN_COLOR 0xffff8040
#define DEFAULT_BOX_COLOR 0xa0000000
#define DEFAULT_BAR_COLOR 0xff40c060
#define DEFAULT_MAX_BARS 5
#define FONT_FAMILY "Sans"

enum
{
  PROP_0,
  PROP_POSITION,
  PROP_FONT_SIZE,
  PROP_TEXT_COLOR,
  PROP_UNKNOWN_COLOR,
  PROP_BOX_COLOR,
  PROP_BAR_COLOR,
  PROP_MAX_BARS,
};

/* The properties as one render sees them. */
typedef struct
{
  GstHyrsmOverlayPosition position;
  guint font_px;
  guint32 text_color, unknown_color, box_color, bar_color;
  guint max_bars;
} Style;

struct _GstHyrsmOverlay
{
  GstBaseTransform parent;

  /* Properties, under the object lock; `dirty` asks for a new render. */
  Style style;
  gboolean dirty;

  /* Streaming thread. The element's own font map, as pango's default one
   * is per thread. */
  PangoFontMap *fontmap;
  PangoContext *pango;
  GstVideoInfo info;
  gboolean attach;              /* downstream renders the composition meta */
  struct Kept *decision;        /* the last whole-frame one seen */
  GstVideoOverlayComposition *composition;      /* its box, NULL: none yet */
  GHashTable *regions;          /* ROI id -> Region: per-region decisions */
};

/* A decision kept from frame to frame: a copy of its HyrsmMeta's
 * structure and the fields gst_hyrsm_decision_from_structure() read from
 * it (pointing into the copy), read once when it arrives. */
typedef struct Kept
{
  GstStructure *s;
  GstHyrsmDecision d;
} Kept;

static void
kept_free (Kept *k)
{
  gst_hyrsm_decision_clear (&k->d);
  gst_structure_free (k->s);
  g_free (k);
}

/* A tracked region's last decision (hyrsmfilter roi=true) and its label,
 * rendered once per decision; drawn where the region's meta is on each
 * frame, as long as the frames carry it. */
typedef struct
{
  Kept *decision;
  GstVideoOverlayRectangle *label;      /* NULL: to render */
} Region;

static void
region_free (gpointer data)
{
  Region *r = data;
  kept_free (r->decision);
  if (r->label)
    gst_video_overlay_rectangle_unref (r->label);
  g_free (r);
}

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE (GST_VIDEO_OVERLAY_COMPOSITION_BLEND_FORMATS)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

G_DEFINE_TYPE (GstHyrsmOverlay, gst_hyrsm_overlay, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (hyrsmoverlay, "hyrsmoverlay", GST_RANK_NONE,
    GST_TYPE_HYRSM_OVERLAY);

GType
gst_hyrsm_overlay_position_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_HYRSM_OVERLAY_TOP_LEFT, "Top left", "top-left"},
    {GST_HYRSM_OVERLAY_TOP_RIGHT, "Top right", "top-right"},
    {GST_HYRSM_OVERLAY_BOTTOM_LEFT, "Bottom left", "bottom-left"},
    {GST_HYRSM_OVERLAY_BOTTOM_RIGHT, "Bottom right", "bottom-right"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstHyrsmOverlayPosition", values));
  return type;
}

/* ---- rendering one decision ---- */

typedef struct
{
  const gchar *label;
  gdouble distance;
  gdouble share;                /* softmax of -distance, as confidence is */
} ClassRow;

static gint
compare_rows (gconstpointer a, gconstpointer b)
{
  const ClassRow *x = a, *y = b;
  return x->distance < y->distance ? -1 : x->distance > y->distance;
}

/* The decision's classes, closest first, with their softmax shares. */
static GArray *
class_rows (const GstHyrsmDecision *d)
{
  GArray *rows = g_array_new (FALSE, FALSE, sizeof (ClassRow));
  gdouble best = INFINITY, sum = 0;
  for (guint i = 0; i < d->n_classes; i++) {
    ClassRow row = { d->labels[i], d->distances[i], 0 };
    best = MIN (best, row.distance);
    g_array_append_val (rows, row);
  }
  for (guint i = 0; i < rows->len; i++)
    sum += exp (-(g_array_index (rows, ClassRow, i).distance - best));
  for (guint i = 0; i < rows->len; i++) {
    ClassRow *r = &g_array_index (rows, ClassRow, i);
    r->share = exp (-(r->distance - best)) / sum;
  }
  g_array_sort (rows, compare_rows);
  return rows;
}

static void
set_color (cairo_t *cr, guint32 argb, gdouble alpha_scale)
{
  cairo_set_source_rgba (cr, ((argb >> 16) & 0xff) / 255.0,
      ((argb >> 8) & 0xff) / 255.0, (argb & 0xff) / 255.0,
      ((argb >> 24) & 0xff) / 255.0 * alpha_scale);
}

static PangoLayout *
make_layout (PangoContext *pango, guint px, gboolean bold, const gchar *text,
    gint max_width)
{
  PangoLayout *layout = pango_layout_new (pango);
  PangoFontDescription *desc = pango_font_description_from_string
      (FONT_FAMILY);
  pango_font_description_set_absolute_size (desc, (gdouble) px * PANGO_SCALE);
  if (bold)
    pango_font_description_set_weight (desc, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description (layout, desc);
  pango_font_description_free (desc);
  pango_layout_set_width (layout, MAX (max_width, 1) * PANGO_SCALE);
  pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
  pango_layout_set_single_paragraph_mode (layout, TRUE);
  pango_layout_set_text (layout, text, -1);
  return layout;
}

static void
show_layout (cairo_t *cr, PangoLayout *layout, gdouble x, gdouble y)
{
  pango_cairo_update_layout (cr, layout);
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, layout);
}

/* Draws one decision's box: the label (or "unknown") with its confidence,
 * then a bar per class, closest first (at most style->max_bars), whose
 * length is the class's softmax share and whose text is its distance.
 * Returns the box as an overlay rectangle placed at (0, 0), at most
 * @max_width x @max_height pixels. */
static GstVideoOverlayRectangle *
render_decision_box (PangoContext *pango, const GstHyrsmDecision *decision,
    const Style *style, gint max_width, gint max_height)
{
  const gchar *label = decision->label;
  gboolean unknown = decision->unknown;
  gdouble confidence = decision->confidence;
  gboolean has_conf = !isnan (confidence);      /* the reader's "not given" */
  GArray *rows = class_rows (decision);
  guint n_bars = MIN (rows->len, style->max_bars);

  guint px = style->font_px;
  guint small = MAX (px * 2 / 3, 6);
  gint pad = MAX (px / 3, 2);
  gint inner = MAX (max_width - 2 * pad, 1);
  gint bar_w = 5 * px;

  /* Measure first, then draw on a surface of the size found. */
  gchar *header_text;
  if (unknown)
    header_text = g_strdup ("unknown");
  else if (has_conf)
    header_text = g_strdup_printf ("%s  %.0f%%", label ? label : "?",
        confidence * 100);
  else
    header_text = g_strdup (label ? label : "?");
  PangoLayout *header = make_layout (pango, px, TRUE, header_text, inner);
  gint header_w, header_h;
  pango_layout_get_pixel_size (header, &header_w, &header_h);

  /* Only the rows that start inside @max_height are laid out and drawn:
   * with thousands of classes and a large max-bars, laying out every row
   * cost time in proportion to the classes for rows the frame cuts off.
   * Rows share one font, so row_h is known from the first ones. */
  PangoLayout **names = g_new0 (PangoLayout *, n_bars + 1);
  PangoLayout **values = g_new0 (PangoLayout *, n_bars + 1);
  gint name_w = 0, value_w = 0, row_h = 0;
  guint n_shown = 0;
  for (guint i = 0; i < n_bars; i++) {
    if (i > 0 && pad + header_h + (gint64) i * (row_h + pad / 2)
        >= max_height)
      break;                    /* this row and the next ones are outside */
    ClassRow *r = &g_array_index (rows, ClassRow, i);
    gchar *v = g_strdup_printf ("%.2f", r->distance);
    names[i] = make_layout (pango, small, FALSE, r->label, inner / 2);
    values[i] = make_layout (pango, small, FALSE, v, inner / 4);
    g_free (v);
    gint w, h;
    pango_layout_get_pixel_size (names[i], &w, &h);
    name_w = MAX (name_w, w);
    row_h = MAX (row_h, h);
    pango_layout_get_pixel_size (values[i], &w, &h);
    value_w = MAX (value_w, w);
    n_shown++;
  }
  GST_LOG ("%u of %u class rows laid out (the others are outside the "
      "%d-pixel box)", n_shown, n_bars, max_height);
  n_bars = n_shown;
  gint rows_w = n_bars ? name_w + pad + bar_w + pad + value_w : 0;
  gint width = MIN (2 * pad + MAX (header_w, rows_w), max_width);
  gint height = MIN (2 * pad + header_h + (gint) n_bars * (row_h + pad / 2),
      max_height);
  width = MAX (width, 1);
  height = MAX (height, 1);

  GstBuffer *pixels = gst_buffer_new_allocate (NULL, (gsize) width * height *
      4, NULL);
  gst_buffer_add_video_meta (pixels, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, width, height);
  GstMapInfo map;
  gst_buffer_map (pixels, &map, GST_MAP_READWRITE);
  memset (map.data, 0, map.size);
  /* Cairo's ARGB32 is premultiplied, native-endian: the composition's
   * BGRA/ARGB with the premultiplied flag. */
  cairo_surface_t *surface = cairo_image_surface_create_for_data (map.data,
      CAIRO_FORMAT_ARGB32, width, height, width * 4);
  cairo_t *cr = cairo_create (surface);

  set_color (cr, style->box_color, 1.0);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_fill (cr);
  set_color (cr, unknown ? style->unknown_color : style->text_color, 1.0);
  show_layout (cr, header, pad, pad);

  gdouble y = pad + header_h;
  for (guint i = 0; i < n_bars; i++) {
    ClassRow *r = &g_array_index (rows, ClassRow, i);
    gdouble bx = pad + name_w + pad, by = y + row_h * 0.2, bh = row_h * 0.6;
    set_color (cr, style->text_color, 1.0);
    show_layout (cr, names[i], pad, y);
    set_color (cr, style->bar_color, 0.3);
    cairo_rectangle (cr, bx, by, bar_w, bh);
    cairo_fill (cr);
    set_color (cr, style->bar_color, 1.0);
    cairo_rectangle (cr, bx, by, MAX (bar_w * r->share, 1), bh);
    cairo_fill (cr);
    set_color (cr, style->text_color, 1.0);
    show_layout (cr, values[i], bx + bar_w + pad, y);
    y += row_h + pad / 2;
  }

  cairo_destroy (cr);
  cairo_surface_destroy (surface);
  gst_buffer_unmap (pixels, &map);
  for (guint i = 0; i < n_bars; i++) {
    g_object_unref (names[i]);
    g_object_unref (values[i]);
  }
  g_free (names);
  g_free (values);
  g_object_unref (header);
  g_free (header_text);
  g_array_unref (rows);

  GstVideoOverlayRectangle *rect = gst_video_overlay_rectangle_new_raw
      (pixels, 0, 0, width, height,
      GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
  gst_buffer_unref (pixels);
  return rect;
}

/* The composition for the current decision, placed per `position`. One box
 * per decision today; per-ROI boxes would add one rectangle each. */
static GstVideoOverlayComposition *
make_composition (GstHyrsmOverlay *self)
{
  GST_OBJECT_LOCK (self);
  Style style = self->style;
  self->dirty = FALSE;
  GST_OBJECT_UNLOCK (self);
  gint vw = GST_VIDEO_INFO_WIDTH (&self->info);
  gint vh = GST_VIDEO_INFO_HEIGHT (&self->info);
  if (style.font_px == 0)
    style.font_px = MAX (vh / 20, 8);
  gint margin = MAX (style.font_px / 2, 1);
  if (vw <= 2 * margin || vh <= 2 * margin)
    margin = 0;

  GstVideoOverlayRectangle *rect = render_decision_box (self->pango,
      &self->decision->d, &style, vw - 2 * margin, vh - 2 * margin);
  gint x, y;
  guint w, h;
  gst_video_overlay_rectangle_get_render_rectangle (rect, NULL, NULL, &w,
      &h);
  gboolean right = style.position == GST_HYRSM_OVERLAY_TOP_RIGHT
      || style.position == GST_HYRSM_OVERLAY_BOTTOM_RIGHT;
  gboolean bottom = style.position == GST_HYRSM_OVERLAY_BOTTOM_LEFT
      || style.position == GST_HYRSM_OVERLAY_BOTTOM_RIGHT;
  x = right ? vw - margin - (gint) w : margin;
  y = bottom ? vh - margin - (gint) h : margin;
  gst_video_overlay_rectangle_set_render_rectangle (rect, x, y, w, h);
  GstVideoOverlayComposition *comp =
      gst_video_overlay_composition_new (rect);
  gst_video_overlay_rectangle_unref (rect);
  return comp;
}

/* A rectangle of one colour (a 1 x 1 pixel scaled), for region outlines. */
static GstVideoOverlayRectangle *
solid_rectangle (guint32 argb, gint x, gint y, guint w, guint h)
{
  GstBuffer *pixel = gst_buffer_new_allocate (NULL, 4, NULL);
  gst_buffer_add_video_meta (pixel, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, 1, 1);
  /* Native-endian ARGB, opaque: the composition's premultiplied format. */
  guint32 value = argb | 0xff000000u;
  gst_buffer_fill (pixel, 0, &value, 4);
  GstVideoOverlayRectangle *rect = gst_video_overlay_rectangle_new_raw (pixel,
      x, y, w, h, GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
  gst_buffer_unref (pixel);
  return rect;
}

/* Adds to @comp the outline of @box (clipped to the frame) and @r's label
 * at its top-left corner (inside the frame). */
static void
add_region (GstHyrsmOverlay *self, GstVideoOverlayComposition *comp,
    Region *r, const GstVideoRectangle *box, const Style *style)
{
  gint vw = GST_VIDEO_INFO_WIDTH (&self->info);
  gint vh = GST_VIDEO_INFO_HEIGHT (&self->info);
  gint x0 = CLAMP (box->x, 0, vw - 1), y0 = CLAMP (box->y, 0, vh - 1);
  gint x1 = CLAMP (box->x + box->w, x0 + 1, vw);
  gint y1 = CLAMP (box->y + box->h, y0 + 1, vh);
  guint line = MAX (style->font_px / 8, 1);
  gboolean unknown = r->decision->d.unknown;
  guint32 color = unknown ? style->unknown_color : style->bar_color;
  guint lw = MIN (line, (guint) (x1 - x0)), lh = MIN (line, (guint) (y1 - y0));
  GstVideoOverlayRectangle *edges[] = {
    solid_rectangle (color, x0, y0, x1 - x0, lh),
    solid_rectangle (color, x0, y1 - lh, x1 - x0, lh),
    solid_rectangle (color, x0, y0, lw, y1 - y0),
    solid_rectangle (color, x1 - lw, y0, lw, y1 - y0),
  };
  for (guint i = 0; i < G_N_ELEMENTS (edges); i++) {
    gst_video_overlay_composition_add_rectangle (comp, edges[i]);
    gst_video_overlay_rectangle_unref (edges[i]);
  }
  if (r->label == NULL) {
    Style compact = *style;
    compact.max_bars = 0;       /* a region gets its label, not the bars */
    r->label = render_decision_box (self->pango, &r->decision->d, &compact,
        vw, vh);
  }
  guint w, h;
  gst_video_overlay_rectangle_get_render_rectangle (r->label, NULL, NULL, &w,
      &h);
  gst_video_overlay_rectangle_set_render_rectangle (r->label,
      CLAMP (x0, 0, MAX (vw - (gint) w, 0)),
      CLAMP (y0, 0, MAX (vh - (gint) h, 0)), w, h);
  gst_video_overlay_composition_add_rectangle (comp, r->label);
}

/* ---- streaming ---- */

static void
forget_decision (GstHyrsmOverlay *self)
{
  g_clear_pointer (&self->decision, kept_free);
  g_clear_pointer (&self->composition, gst_video_overlay_composition_unref);
}

static void
forget_all (GstHyrsmOverlay *self)
{
  forget_decision (self);
  g_hash_table_remove_all (self->regions);
}

/* Whether downstream draws GstVideoOverlayCompositionMeta itself (it says
 * so in the ALLOCATION query), so that frames need not be touched. */
static gboolean
downstream_renders_meta (GstHyrsmOverlay *self, GstCaps *caps)
{
  GstQuery *query = gst_query_new_allocation (caps, FALSE);
  gboolean has = gst_pad_peer_query (GST_BASE_TRANSFORM_SRC_PAD (self), query)
      && gst_query_find_allocation_meta (query,
      GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
  gst_query_unref (query);
  return has;
}

/* Adds @comp's box to the frame's composition meta, keeping what an
 * element upstream (another overlay) put there. */
static void
attach_composition (GstBuffer *buf, GstVideoOverlayComposition *comp)
{
  GstVideoOverlayCompositionMeta *meta =
      gst_buffer_get_video_overlay_composition_meta (buf);
  if (meta == NULL) {
    gst_buffer_add_video_overlay_composition_meta (buf, comp);
    return;
  }
  GstVideoOverlayComposition *merged =
      gst_video_overlay_composition_copy (meta->overlay);
  guint n = gst_video_overlay_composition_n_rectangles (comp);
  for (guint i = 0; i < n; i++)
    gst_video_overlay_composition_add_rectangle (merged,
        gst_video_overlay_composition_get_rectangle (comp, i));
  gst_buffer_remove_video_overlay_composition_meta (buf, meta);
  gst_buffer_add_video_overlay_composition_meta (buf, merged);
  gst_video_overlay_composition_unref (merged);
}

static gboolean
gst_hyrsm_overlay_set_caps (GstBaseTransform *trans, GstCaps *incaps,
    GstCaps *outcaps)
{
  GstHyrsmOverlay *self = GST_HYRSM_OVERLAY (trans);
  if (!gst_video_info_from_caps (&self->info, incaps)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Invalid video caps."),
        ("%" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  self->attach = downstream_renders_meta (self, outcaps);
  GST_INFO_OBJECT (self, "%s the decision box",
      self->attach ? "downstream renders" : "blending");
  /* The box's place depends on the frame size. */
  g_clear_pointer (&self->composition, gst_video_overlay_composition_unref);
  return TRUE;
}

static GstFlowReturn
gst_hyrsm_overlay_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstHyrsmOverlay *self = GST_HYRSM_OVERLAY (trans);
  /* Every decision on the buffer: the whole frame's, and regions'. Each
   * is kept past this buffer, so it is read from a copy of its structure
   * (the meta goes with the buffer). */
  gpointer state = NULL;
  const GstStructure *decision;
  while ((decision = gst_buffer_iterate_hyrsm_meta (buf, &state))) {
    Kept *k = g_new0 (Kept, 1);
    k->s = gst_structure_copy (decision);
    GError *error = NULL;
    if (!gst_hyrsm_decision_from_structure (k->s, &k->d, &error)) {
      /* Per frame, so not a bus message: other code's meta, not ours. */
      GST_WARNING_OBJECT (self, "not drawn: %s", error->message);
      g_error_free (error);
      kept_free (k);
      continue;
    }
    if (k->d.is_region) {
      Region *r = g_new0 (Region, 1);
      r->decision = k;
      g_hash_table_replace (self->regions, GINT_TO_POINTER (k->d.roi_id), r);
    } else {
      forget_decision (self);
      self->decision = k;
    }
  }

  GST_OBJECT_LOCK (self);
  gboolean dirty = self->dirty;
  Style style = self->style;
  GST_OBJECT_UNLOCK (self);
  if (style.font_px == 0)
    style.font_px = MAX (GST_VIDEO_INFO_HEIGHT (&self->info) / 20, 8);
  if (dirty) {
    GHashTableIter iter;
    Region *r;
    g_hash_table_iter_init (&iter, self->regions);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) & r))
      g_clear_pointer (&r->label, gst_video_overlay_rectangle_unref);
  }
  if (self->decision && (self->composition == NULL || dirty)) {
    g_clear_pointer (&self->composition, gst_video_overlay_composition_unref);
    self->composition = make_composition (self);
  }

  /* Regions are drawn where this frame's region metas are; a region the
   * frame no longer carries has left and is forgotten. */
  GstVideoOverlayComposition *comp = self->composition ?
      gst_video_overlay_composition_copy (self->composition) : NULL;
  GHashTableIter iter;
  gpointer key;
  Region *r;
  g_hash_table_iter_init (&iter, self->regions);
  while (g_hash_table_iter_next (&iter, &key, (gpointer *) & r)) {
    GstVideoRegionOfInterestMeta *roi =
        gst_buffer_get_video_region_of_interest_meta_id (buf,
        GPOINTER_TO_INT (key));
    if (roi == NULL) {
      g_hash_table_iter_remove (&iter);
      continue;
    }
    GstVideoRectangle box = { roi->x, roi->y, roi->w, roi->h };
    if (comp == NULL)
      comp = gst_video_overlay_composition_new (NULL);
    add_region (self, comp, r, &box, &style);
  }
  if (comp == NULL)
    return GST_FLOW_OK;

  GstFlowReturn ret = GST_FLOW_OK;
  if (self->attach) {
    attach_composition (buf, comp);
  } else {
    GstVideoFrame frame;
    if (gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READWRITE)) {
      gst_video_overlay_composition_blend (comp, &frame);
      gst_video_frame_unmap (&frame);
    } else {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a frame."),
          (NULL));
      ret = GST_FLOW_ERROR;
    }
  }
  gst_video_overlay_composition_unref (comp);
  return ret;
}

static gboolean
gst_hyrsm_overlay_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstHyrsmOverlay *self = GST_HYRSM_OVERLAY (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
    case GST_EVENT_STREAM_START:
      /* A seek or a new stream: the old decisions no longer apply. */
      forget_all (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_hyrsm_overlay_parent_class)->sink_event
      (trans, event);
}

static gboolean
gst_hyrsm_overlay_stop (GstBaseTransform *trans)
{
  forget_decision (GST_HYRSM_OVERLAY (trans));
  return TRUE;
}

/* ---- properties ---- */

static void
gst_hyrsm_overlay_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstHyrsmOverlay *self = GST_HYRSM_OVERLAY (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_POSITION:
      self->style.position = g_value_get_enum (value);
      break;
    case PROP_FONT_SIZE:
      self->style.font_px = g_value_get_uint (value);
      break;
    case PROP_TEXT_COLOR:
      self->style.text_color = g_value_get_uint (value);
      break;
    case PROP_UNKNOWN_COLOR:
      self->style.unknown_color = g_value_get_uint (value);
      break;
    case PROP_BOX_COLOR:
      self->style.box_color = g_value_get_uint (value);
      break;
    case PROP_BAR_COLOR:
      self->style.bar_color = g_value_get_uint (value);
      break;
    case PROP_MAX_BARS:
      self->style.max_bars = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  self->dirty = TRUE;
  GST_OBJECT_UNLOCK (self);
}

static void
gst_hyrsm_overlay_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstHyrsmOverlay *self = GST_HYRSM_OVERLAY (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_POSITION:
      g_value_set_enum (value, self->style.position);
      break;
    case PROP_FONT_SIZE:
      g_value_set_uint (value, self->style.font_px);
      break;
    case PROP_TEXT_COLOR:
      g_value_set_uint (value, self->style.text_color);
      break;
    case PROP_UNKNOWN_COLOR:
      g_value_set_uint (value, self->style.unknown_color);
      break;
    case PROP_BOX_COLOR:
      g_value_set_uint (value, self->style.box_color);
      break;
    case PROP_BAR_COLOR:
      g_value_set_uint (value, self->style.bar_color);
      break;
    case PROP_MAX_BARS:
      g_value_set_uint (value, self->style.max_bars);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_hyrsm_overlay_finalize (GObject *object)
{
  GstHyrsmOverlay *self = GST_HYRSM_OVERLAY (object);
  forget_decision (self);
  g_hash_table_unref (self->regions);
  g_object_unref (self->pango);
  g_object_unref (self->fontmap);
  G_OBJECT_CLASS (gst_hyrsm_overlay_parent_class)->finalize (object);
}

static void
install_color (GObjectClass *klass, guint id, const gchar *name,
    const gchar *nick, const gchar *blurb, guint32 def)
{
  g_object_class_install_property (klass, id, g_param_spec_uint (name, nick,
          blurb, 0, G_MAXUINT32, def, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
}

static void
gst_hyrsm_overlay_class_init (GstHyrsmOverlayClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_PLAYING;

  gobject_class->set_property = gst_hyrsm_overlay_set_property;
  gobject_class->get_property = gst_hyrsm_overlay_get_property;
  gobject_class->finalize = gst_hyrsm_overlay_finalize;

  g_object_class_install_property (gobject_class, PROP_POSITION,
      g_param_spec_enum ("position", "Position",
          "Corner of the frame where the decision box is drawn",
          GST_TYPE_HYRSM_OVERLAY_POSITION, DEFAULT_POSITION, rw));
  g_object_class_install_property (gobject_class, PROP_FONT_SIZE,
      g_param_spec_uint ("font-size", "Font size",
          "Height of the label's font in pixels (0: a twentieth of the "
          "frame height); the class rows use two thirds of it", 0, 1024,
          DEFAULT_FONT_SIZE, rw));
  install_color (gobject_class, PROP_TEXT_COLOR, "text-color", "Text color",
      "Color of the label and class names (big-endian ARGB)",
      DEFAULT_TEXT_COLOR);
  install_color (gobject_class, PROP_UNKNOWN_COLOR, "unknown-color",
      "Unknown color", "Color of the label when it is \"unknown\" "
      "(big-endian ARGB)", DEFAULT_UNKNOWN_COLOR);
  install_color (gobject_class, PROP_BOX_COLOR, "box-color", "Box color",
      "Background of the decision box (big-endian ARGB)", DEFAULT_BOX_COLOR);
  install_color (gobject_class, PROP_BAR_COLOR, "bar-color", "Bar color",
      "Color of the class bars (big-endian ARGB)", DEFAULT_BAR_COLOR);
  g_object_class_install_property (gobject_class, PROP_MAX_BARS,
      g_param_spec_uint ("max-bars", "Max bars",
          "Classes shown as bars, closest first (0: the label only)", 0,
          G_MAXUINT, DEFAULT_MAX_BARS, rw));

  gst_element_class_set_static_metadata (element_class,
      "HyRSM++ decision overlay", "Filter/Editor/Video",
      "Draws the latest hyrsmfilter decision (HyrsmMeta) on the video: "
      "label, confidence and a bar per class", "gst-hyrsm developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_hyrsm_overlay_set_caps);
  trans_class->transform_ip =
      GST_DEBUG_FUNCPTR (gst_hyrsm_overlay_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_hyrsm_overlay_sink_event);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_hyrsm_overlay_stop);
  trans_class->passthrough_on_same_caps = FALSE;

  gst_type_mark_as_plugin_api (GST_TYPE_HYRSM_OVERLAY_POSITION, 0);
  GST_DEBUG_CATEGORY_INIT (gst_hyrsm_overlay_debug, "hyrsmoverlay", 0,
      "HyRSM++ decision overlay");
}

static void
gst_hyrsm_overlay_init (GstHyrsmOverlay *self)
{
  self->style.position = DEFAULT_POSITION;
  self->style.font_px = DEFAULT_FONT_SIZE;
  self->style.text_color = DEFAULT_TEXT_COLOR;
  self->style.unknown_color = DEFAULT_UNKNOWN_COLOR;
  self->style.box_color = DEFAULT_BOX_COLOR;
  self->style.bar_color = DEFAULT_BAR_COLOR;
  self->style.max_bars = DEFAULT_MAX_BARS;
  self->fontmap = pango_cairo_font_map_new ();
  self->pango = pango_font_map_create_context (self->fontmap);
  self->regions = g_hash_table_new_full (NULL, NULL, NULL, region_free);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
