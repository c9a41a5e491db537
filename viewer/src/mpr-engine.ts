// The MPR's Cornerstone side (mpr.ts holds its state and what the user
// does): a rendering engine of its own with three orthographic volume
// viewports and, on demand, a 3D one; the planes' tool group (linked
// crosshairs with rotation and slab handles, window, pan, zoom, scroll) and
// the 3D view's; what a plane shows, read back for tests.
//
// Volume viewports need WebGL: where the stack is drawn on the CPU (a
// software rasteriser, see main.ts), this engine and its viewports are made
// with GPU rendering all the same (`withGpu`), which SwiftShader provides
// in headless Chromium.

import {
  Enums, RenderingEngine, Types, cache, getConfiguration, getRenderingCapabilities, getShouldUseCPURendering,
  imageLoader, setUseCPURendering, setVolumesForViewports, utilities as csUtils, volumeLoader,
} from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { Cell, MprTool, PLANES, Plane, SlabMode } from './mpr-view';

export const ENGINE_ID = 'yunying-mpr';
const PLANE_TOOLS = 'yunying-mpr-planes';
const VOLUME_TOOLS = 'yunying-mpr-volume';
const { MouseBindings } = tools.Enums;

export const viewportId = (cell: Cell) => `mpr-${cell}`;

const ORIENTATION: Record<Plane, Enums.OrientationAxis> = {
  axial: Enums.OrientationAxis.AXIAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
  coronal: Enums.OrientationAxis.CORONAL,
};
export const BLEND: Record<SlabMode, Enums.BlendModes> = {
  mip: Enums.BlendModes.MAXIMUM_INTENSITY_BLEND,
  minip: Enums.BlendModes.MINIMUM_INTENSITY_BLEND,
  avg: Enums.BlendModes.AVERAGE_INTENSITY_BLEND,
};
/** Each plane's reference line in the other two (red axial, yellow sagittal, blue coronal). */
const LINE_COLOURS: Record<string, string> = {
  'mpr-axial': 'rgb(230, 70, 70)',
  'mpr-sagittal': 'rgb(230, 200, 40)',
  'mpr-coronal': 'rgb(60, 170, 240)',
};
/** Cornerstone's volume-rendering presets offered (its constants/viewportPresets). */
export const VOLUME_PRESETS = ['CT-Bone', 'CT-Soft-Tissue', 'CT-Coronary-Arteries', 'CT-Chest-Vessels', 'CT-Lung', 'CT-MIP', 'MR-Default', 'MR-MIP'];
const TOOL_NAMES: Record<MprTool, string> = {
  crosshairs: tools.CrosshairsTool.toolName,
  window: tools.WindowLevelTool.toolName,
  pan: tools.PanTool.toolName,
  zoom: tools.ZoomTool.toolName,
};
/**
 * The 3D view's ray sampling distance, times Cornerstone's, where WebGL is
 * emulated in software: about 4× faster, a little grainier.
 */
const SOFTWARE_3D_SAMPLING = 4;

/** WebGL is emulated on the CPU (SwiftShader, llvmpipe): no GPU. */
export const software = () => !!getRenderingCapabilities().softwareRasterizer;

/** What tests and benchmarks read of one plane. */
export interface PlaneState {
  /** Slice shown (0-based along the view direction) and how many there are; undefined for an oblique plane. */
  slice?: number;
  slices?: number;
  focalPoint: number[];
  normal: number[];
  viewUp: number[];
  /** Slab thickness (mm, the whole slab; 0 for a single slice) and how it blends. */
  slab: number;
  blend: 'composite' | SlabMode;
  voi?: { center: number; width: number };
  /** Renders so far. */
  renders: number;
}

/** The engine made ahead (`warmUp`), until the MPR opens. */
let spare: Promise<RenderingEngine | undefined> | undefined;
/** How the engine made ahead is doing (tests read it). */
let spareState: 'none' | 'warming' | 'ready' | 'failed' = 'none';
export const spareEngine = () => spareState;

/**
 * Make the engine ahead, its volume shaders compiled by drawing a tiny
 * volume off screen, so that opening the MPR waits for neither: with WebGL
 * in software (SwiftShader) compiling them takes a quarter of a second.
 */
export function warmUp(): void {
  if (spare || !getRenderingCapabilities().webgl) return;
  spareState = 'warming';
  spare = warm().then(
    (engine) => {
      spareState = 'ready';
      return engine;
    },
    (e) => {
      spareState = 'failed';
      console.warn('the MPR engine was not made ahead:', e);
      return undefined;
    },
  );
}

/** The engine made ahead goes (the reader closes). */
export function dropSpare(): void {
  const made = spare;
  spare = undefined;
  spareState = 'none';
  void made?.then((engine) => engine?.destroy());
}

/** The tiny volume's slices: made in the image cache, where Cornerstone's default window looks for them through a loader. */
const WARM_SCHEME = 'yunying-warm';
let warmLoader = false;

async function warm(): Promise<RenderingEngine> {
  if (!warmLoader) {
    imageLoader.registerImageLoader(WARM_SCHEME, ((imageId: string) => ({ promise: Promise.resolve(cache.getImage(imageId)) })) as never);
    warmLoader = true;
  }
  const element = document.createElement('div');
  element.style.cssText = 'position: fixed; left: -128px; top: 0; width: 96px; height: 96px; visibility: hidden; pointer-events: none';
  document.body.append(element);
  const engine = withGpu(() => new RenderingEngine(ENGINE_ID));
  const id = 'mpr-warm';
  const volumeId = `${WARM_SCHEME}:${csUtils.uuidv4()}`;
  const n = 4;
  try {
    withGpu(() => engine.enableElement({
      viewportId: id,
      type: Enums.ViewportType.ORTHOGRAPHIC,
      element,
      defaultOptions: { orientation: Enums.OrientationAxis.AXIAL, background: [0, 0, 0] as Types.Point3 },
    }));
    // A CT's data type: the same texture and shaders as the series' volume.
    volumeLoader.createLocalVolume(volumeId, {
      dimensions: [n, n, n], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
      scalarData: new Int16Array(n * n * n), metadata: { Modality: 'CT', PhotometricInterpretation: 'MONOCHROME2' } as never,
    });
    await setVolumesForViewports(engine, [{ volumeId }], [id]);
    await new Promise<void>((drawn) => {
      const timer = setTimeout(drawn, 10000);
      element.addEventListener(Enums.Events.IMAGE_RENDERED, () => { clearTimeout(timer); drawn(); }, { once: true });
      engine.renderViewports([id]);
    });
    engine.disableElement(id);
    return engine;
  } catch (e) {
    engine.destroy();
    throw e;
  } finally {
    if (cache.getVolumeLoadObject(volumeId)) cache.removeVolumeLoadObject(volumeId);
    // The volume's slices stay in the image cache when the volume goes.
    for (let k = 0; k < n; k++) {
      const imageId = `${volumeId}_slice_${k}`;
      if (cache.getImage(imageId)) cache.removeImageLoadObject(imageId, { force: true });
    }
    element.remove();
  }
}

/** The engine with the three planes' viewports in `elements`: the one made ahead, else a new one. */
export async function createEngine(elements: Record<Plane, HTMLDivElement>): Promise<RenderingEngine> {
  const made = spare && (await spare);
  spare = undefined;
  spareState = 'none';
  const engine = made && !made.hasBeenDestroyed ? made : withGpu(() => new RenderingEngine(ENGINE_ID));
  withGpu(() => engine.setViewports(PLANES.map((plane) => ({
    viewportId: viewportId(plane),
    type: Enums.ViewportType.ORTHOGRAPHIC,
    element: elements[plane],
    defaultOptions: { orientation: ORIENTATION[plane], background: [0, 0, 0] as Types.Point3 },
  }))));
  return engine;
}

/** The planes' tool group: crosshairs (reference lines that move, rotate and thicken the other planes), window, pan, zoom, scroll. */
export function setupPlaneTools(mode: SlabMode, tool: MprTool): void {
  for (const Tool of [tools.CrosshairsTool, tools.WindowLevelTool, tools.PanTool, tools.ZoomTool, tools.StackScrollTool, tools.TrackballRotateTool]) tools.addTool(Tool);
  const group = tools.ToolGroupManager.createToolGroup(PLANE_TOOLS)!;
  for (const plane of PLANES) group.addViewport(viewportId(plane), ENGINE_ID);
  group.addTool(tools.CrosshairsTool.toolName, {
    getReferenceLineColor: (id: string) => LINE_COLOURS[id] ?? 'rgb(200, 200, 200)',
    getReferenceLineControllable: () => true,
    getReferenceLineDraggableRotatable: () => true,
    getReferenceLineSlabThicknessControlsOn: () => true,
    slabThicknessBlendMode: BLEND[mode],
  });
  for (const Tool of [tools.WindowLevelTool, tools.PanTool, tools.ZoomTool, tools.StackScrollTool]) group.addTool(Tool.toolName);
  applyTool(tool);
}

/** `tool` on the left button; the wheel scrolls, the middle button pans, the right one zooms. */
export function applyTool(tool: MprTool): void {
  const group = tools.ToolGroupManager.getToolGroup(PLANE_TOOLS);
  if (!group) return;
  const primary = TOOL_NAMES[tool];
  for (const name of Object.values(TOOL_NAMES)) {
    if (name !== primary) group.setToolPassive(name, { removeAllBindings: true } as never);
  }
  group.setToolActive(primary, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  group.setToolActive(tools.StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  if (tool !== 'pan') group.setToolActive(tools.PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  if (tool !== 'zoom') group.setToolActive(tools.ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
}

/** The blend mode a crosshair's slab handles give. */
export function setSlabHandlesMode(mode: SlabMode): void {
  tools.ToolGroupManager.getToolGroup(PLANE_TOOLS)?.setToolConfiguration(tools.CrosshairsTool.toolName, { slabThicknessBlendMode: BLEND[mode] });
}

export function crosshairs(): tools.CrosshairsTool | undefined {
  return tools.ToolGroupManager.getToolGroup(PLANE_TOOLS)?.getToolInstance(tools.CrosshairsTool.toolName) as tools.CrosshairsTool | undefined;
}

/** The 3D view in `element`, with the volume, rotated by the left button; resolves once it has the volume. */
export async function enable3d(engine: RenderingEngine, element: HTMLDivElement, volumeId: string): Promise<void> {
  const id = viewportId('volume');
  withGpu(() => engine.enableElement({
    viewportId: id,
    type: Enums.ViewportType.VOLUME_3D,
    element,
    defaultOptions: { orientation: Enums.OrientationAxis.CORONAL, background: [0, 0, 0] as Types.Point3 },
  }));
  const group = tools.ToolGroupManager.createToolGroup(VOLUME_TOOLS)!;
  group.addViewport(id, ENGINE_ID);
  for (const Tool of [tools.TrackballRotateTool, tools.PanTool, tools.ZoomTool]) group.addTool(Tool.toolName);
  group.setToolActive(tools.TrackballRotateTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  group.setToolActive(tools.PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive(tools.ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }, { mouseButton: MouseBindings.Wheel }] });
  await setVolumesForViewports(engine, [{ volumeId }], [id]);
  const viewport = engine.getViewport(id) as unknown as { setSampleDistanceMultiplier(m: number): void } | undefined;
  if (viewport && software()) viewport.setSampleDistanceMultiplier(SOFTWARE_3D_SAMPLING);
}

export function disable3d(engine: RenderingEngine): void {
  tools.ToolGroupManager.destroyToolGroup(VOLUME_TOOLS);
  if (engine.getViewport(viewportId('volume'))) engine.disableElement(viewportId('volume'));
}

/** The tool groups gone, the crosshairs' annotations with them (destroying a group leaves those). */
export function destroyTools(): void {
  tools.ToolGroupManager.getToolGroup(PLANE_TOOLS)?.setToolDisabled(tools.CrosshairsTool.toolName);
  tools.ToolGroupManager.destroyToolGroup(PLANE_TOOLS);
  tools.ToolGroupManager.destroyToolGroup(VOLUME_TOOLS);
}

export function planeState(viewport: Types.IVolumeViewport, renders: number): PlaneState {
  const camera = viewport.getCamera();
  const voi = viewport.getProperties()?.voiRange;
  const ww = voi ? csUtils.windowLevel.toWindowLevel(voi.lower, voi.upper) : undefined;
  const blend = viewport.getBlendMode();
  // Cornerstone's slab thickness is each side's (its minimum, 0.05 mm, a single slice).
  const half = viewport.getSlabThickness();
  const slab = half > 0.1 ? 2 * half : 0;
  const axisAligned = camera.viewPlaneNormal!.some((v) => Math.abs(Math.abs(v) - 1) < 1e-6);
  const slices = axisAligned ? csUtils.getImageSliceDataForVolumeViewport(viewport) : undefined;
  return {
    slice: slices?.imageIndex,
    slices: slices?.numberOfSlices,
    focalPoint: [...camera.focalPoint!],
    normal: [...camera.viewPlaneNormal!],
    viewUp: [...camera.viewUp!],
    slab,
    blend: blend === Enums.BlendModes.COMPOSITE || !slab ? 'composite' : (Object.entries(BLEND).find(([, b]) => b === blend)?.[0] as SlabMode),
    voi: ww ? { center: ww.windowCenter, width: ww.windowWidth } : undefined,
    renders,
  };
}

/** A slab of `thickness` mm in all (0: a single slice) blended by `mode`. */
export function setSlab(viewport: Types.IVolumeViewport, thickness: number, mode: SlabMode): void {
  if (thickness > 0) {
    viewport.setBlendMode(BLEND[mode]);
    // Cornerstone's slab reaches its thickness to either side of the plane.
    viewport.setSlabThickness(thickness / 2);
  } else {
    viewport.setBlendMode(Enums.BlendModes.COMPOSITE);
    viewport.resetSlabThickness();
  }
}

/**
 * Run `make` with GPU rendering and a single WebGL context: Cornerstone makes
 * volume viewports (and a rendering engine's contexts) only then, and the
 * setting is global, so it is set back at once for the stack's engine and
 * viewports, which keep drawing on the CPU where main.ts chose it. One
 * context serves every volume viewport (Cornerstone draws them all in its
 * first); the default of seven would add six idle WebGL contexts.
 */
function withGpu<T>(make: () => T): T {
  const rendering = getConfiguration().rendering!;
  const contexts = rendering.webGlContextCount;
  const cpu = getShouldUseCPURendering();
  rendering.webGlContextCount = 1;
  if (cpu) setUseCPURendering(false, false);
  try {
    return make();
  } finally {
    rendering.webGlContextCount = contexts;
    if (cpu) setUseCPURendering(true, false);
  }
}
