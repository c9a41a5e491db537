// What the viewer saves beside the drawn annotations (annotations.ts):
// the images marked as key images (a Key Object Selection document on the
// server) and, read back, the windows saved with the set, applied as a
// presentation state means: to the viewports showing those series.

import { Enums as CoreEnums, utilities as csUtils } from '@cornerstonejs/core';
import { h } from './dom';
import { t } from './i18n';
import type { Panel } from './panel';
import type { Reader } from './viewer';

/** An image (a frame) of the study, as the annotations API names it. */
export interface Image {
  series_instance_uid: string;
  sop_instance_uid: string;
  frame?: number | null;
}

/** A saved window of an image. */
export interface Display {
  image: Image;
  window_center: number;
  window_width: number;
}

const IMAGE_ID = /\/studies\/([^/]+)\/series\/([^/]+)\/instances\/([^/]+)\/frames\/(\d+)/;

/** The study and image of a viewer image id. */
export function imageOf(imageId: string): (Image & { study: string }) | undefined {
  const m = IMAGE_ID.exec(imageId);
  if (!m) return undefined;
  return { study: m[1], series_instance_uid: m[2], sop_instance_uid: m[3], frame: Number(m[4]) };
}

const keyOf = (i: Image) => `${i.sop_instance_uid}/${i.frame ?? 1}`;

/** Key images marked (K, toolbar toggle) and saved windows applied, per viewport. */
export class ShownImages {
  /** Marked key images by instance/frame, in the order marked. */
  private keys = new Map<string, Image>();
  /** Saved window per series, from the set loaded. */
  private windows = new Map<string, Display>();
  /** The series each viewport has had its saved window considered for. */
  private windowDone = new WeakMap<Panel, string>();
  private hooked = new WeakSet<Element>();
  readonly keyButton = h('button', { 'data-testid': 'key-image', title: 'K', 'aria-pressed': 'false', onclick: () => this.toggleKey() }, `★ ${t('keyImage')}`);

  constructor(private reader: Reader) {}

  /** The image a viewport shows, when it is of the open study. */
  shown(panel: Panel): Image | undefined {
    const id = panel.viewport?.getCurrentImageId();
    const image = id ? imageOf(id) : undefined;
    if (!image || image.study !== this.reader.study?.uid) return undefined;
    const { study: _, ...ref } = image;
    return ref;
  }

  isKey(panel: Panel): boolean {
    const image = this.shown(panel);
    return !!image && this.keys.has(keyOf(image));
  }

  /** The key images marked, in order. */
  keyImages(): Image[] {
    return [...this.keys.values()];
  }

  /** Mark or unmark the image of the active viewport. */
  toggleKey(): void {
    const image = this.shown(this.reader.active);
    if (!image) return;
    const k = keyOf(image);
    if (this.keys.has(k)) this.keys.delete(k);
    else this.keys.set(k, image);
    this.refresh();
  }

  /** The key images of a set read back. */
  setKeys(images: Image[]): void {
    this.keys = new Map(images.map((i) => [keyOf(i), { series_instance_uid: i.series_instance_uid, sop_instance_uid: i.sop_instance_uid, frame: i.frame ?? 1 }]));
    this.refresh();
  }

  /** The windows of a set read back, applied to the viewports showing their series. */
  setWindows(displays: Display[]): void {
    this.windows.clear();
    for (const d of displays) if (!this.windows.has(d.image.series_instance_uid)) this.windows.set(d.image.series_instance_uid, d);
    for (const panel of this.reader.panels) this.applyWindow(panel);
  }

  /** Follow every viewport's renders (new viewports come with a new toolbar, which calls this). */
  hook(): void {
    for (const panel of this.reader.panels) {
      if (this.hooked.has(panel.element)) continue;
      this.hooked.add(panel.element);
      panel.element.addEventListener(CoreEnums.Events.IMAGE_RENDERED, () => {
        this.applyWindow(panel);
        this.refresh();
      });
    }
  }

  /** The toolbar toggle and each viewport's mark show whether its image is a key image. */
  refresh(): void {
    const on = !!this.reader.active && this.isKey(this.reader.active);
    this.keyButton.classList.toggle('on', on);
    this.keyButton.setAttribute('aria-pressed', String(on));
    for (const panel of this.reader.panels) panel.root.classList.toggle('key-image', this.isKey(panel));
  }

  /**
   * A saved window, once per series shown in a viewport, after its first
   * image: not when the user has already changed the window from the default.
   */
  private applyWindow(panel: Panel): void {
    const series = panel.series?.uid;
    const viewport = panel.viewport;
    const saved = series ? this.windows.get(series) : undefined;
    if (!series || !viewport || !saved || !panel.defaultVoi || this.windowDone.get(panel) === series) return;
    this.windowDone.set(panel, series);
    const voi = viewport.getProperties().voiRange;
    const untouched = voi && Math.abs(voi.lower - panel.defaultVoi.lower) < 1e-3 && Math.abs(voi.upper - panel.defaultVoi.upper) < 1e-3;
    if (!untouched) return;
    viewport.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(saved.window_width, saved.window_center) });
    viewport.render();
  }
}
