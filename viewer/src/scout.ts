// Scout (localiser) lines: where the active viewport's slice cuts the
// images of the other viewports, drawn as a line on each image of another
// orientation in the same frame of reference (an axial slice on a coronal
// scout, on a sagittal reformat). Cornerstone's ReferenceLinesTool draws
// them from one source viewport: the active one, followed as it changes.

import { Enums } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';

const TOOL = tools.ReferenceLinesTool.toolName;

let registered = false;

/** The tool in `group`, drawing from `sourceViewportId` when `on`. */
export function setupScoutLines(group: tools.Types.IToolGroup, sourceViewportId: string, on: boolean): void {
  if (!registered) {
    tools.addTool(tools.ReferenceLinesTool);
    registered = true;
  }
  group.addTool(TOOL, { sourceViewportId, enforceSameFrameOfReference: true, showFullDimension: false });
  showScoutLines(group, on);
}

export function showScoutLines(group: tools.Types.IToolGroup | undefined, on: boolean): void {
  if (!group) return;
  if (on) group.setToolEnabled(TOOL);
  else group.setToolDisabled(TOOL);
}

/**
 * A stack viewport's new image moves no camera, which is what the tool
 * follows: the source's plane is read again once `element` has drawn
 * another image while it is the source (its camera is on the new image's
 * plane only then).
 */
export function scoutFollows(element: HTMLElement, group: () => tools.Types.IToolGroup | undefined, isSource: () => boolean): void {
  let moved = false;
  element.addEventListener(Enums.Events.STACK_NEW_IMAGE, () => {
    moved = true;
  });
  element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
    if (!moved) return;
    moved = false;
    if (!isSource()) return;
    const tool = group()?.getToolInstance(TOOL) as tools.ReferenceLinesTool | undefined;
    if (tool?.mode === tools.Enums.ToolModes.Enabled) tool._init();
  });
}

/** The lines follow the viewport now active (its slice, as it scrolls). */
export function scoutSource(group: tools.Types.IToolGroup | undefined, sourceViewportId: string): void {
  if (!group?.hasTool(TOOL)) return;
  // Setting the configuration recomputes the source plane and redraws.
  group.setToolConfiguration(TOOL, { sourceViewportId });
}
