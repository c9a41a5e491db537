// Hanging protocols, the rules alone: which protocol a study matches and
// which series (of the study or of a prior) each viewport of it shows.
// Pure functions on plain objects, no DOM and no imports, so
// viewer/tests/hanging-unit.test.mjs runs them in Node as they are. The
// format is docs/hanging-protocols.schema.json; the server checks the same
// bounds (crates/yunying-hanging) before it stores a list, and `validate`
// here shows the administrator the problems before sending.

export type HangingLayout = '1x1' | '1x2' | '2x2' | '1x3' | '2x3';
export const HANGING_LAYOUTS: HangingLayout[] = ['1x1', '1x2', '2x2', '1x3', '2x3'];
export const HANGING_PRESETS = ['default', 'soft', 'lung', 'bone', 'brain'];

export interface SeriesSelector {
  /** 0 (or absent): the study opened; N: its Nth prior, newest first. */
  prior?: number;
  modality?: string;
  /** Pattern of the series description (case-insensitive). */
  description?: string;
  number?: number;
  /** The nth (from 0) series meeting the rest, by series number. */
  nth?: number;
}

export interface ViewportRule {
  series: SeriesSelector;
  preset?: string;
}

export interface ProtocolMatch {
  /** Any of these is among the study's modalities. */
  modalities?: string[];
  /** Pattern of a series' Body Part Examined. */
  bodyPart?: string;
  /** Pattern of the Study Description. */
  description?: string;
  /** Pattern of the body part or the study description. */
  anatomy?: string;
  minPriors?: number;
  maxPriors?: number;
}

export interface Protocol {
  id: string;
  name: string;
  match?: ProtocolMatch;
  layout: HangingLayout;
  viewports: ViewportRule[];
}

/** What the rules read of a series. */
export interface SeriesFacts {
  uid: string;
  number?: number;
  description: string;
  modality: string;
  bodyPart?: string;
}

/** What the rules read of a study. */
export interface StudyFacts {
  uid: string;
  description: string;
  modalities: string[];
  series: SeriesFacts[];
}

/** One viewport's placement: which series of which study, in which window. */
export interface Placement {
  study: string;
  series: string;
  preset?: string;
}

/** Series a stack viewport does not show. */
const NOT_IMAGES = new Set(['SR', 'PR', 'KO', 'DOC', 'REG', 'SEG', 'RTSTRUCT', 'RTPLAN', 'RWV', 'FID']);

export function layoutCells(layout: string): number {
  const m = /^([1-3])x([1-3])$/.exec(layout);
  return m ? Number(m[1]) * Number(m[2]) : 0;
}

const compiled = new Map<string, RegExp | null>();

/** A pattern as a case-insensitive Unicode RegExp; null when it is not one (it then matches nothing). */
export function pattern(source: string): RegExp | null {
  if (!compiled.has(source)) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(source, 'iu');
    } catch {
      re = null;
    }
    compiled.set(source, re);
  }
  return compiled.get(source)!;
}

function test(source: string | undefined, ...texts: (string | undefined)[]): boolean {
  if (source === undefined) return true;
  const re = pattern(source);
  return !!re && texts.some((t) => t !== undefined && t !== '' && re.test(t));
}

function bodyParts(study: StudyFacts): string[] {
  return study.series.map((s) => s.bodyPart ?? '').filter(Boolean);
}

/** Whether `protocol` applies to `study` with `priorCount` priors. */
export function matches(protocol: Protocol, study: StudyFacts, priorCount: number): boolean {
  const m = protocol.match ?? {};
  const modalities = new Set([...study.modalities, ...study.series.map((s) => s.modality)].map((x) => x.toUpperCase()));
  if (m.modalities?.length && !m.modalities.some((x) => modalities.has(x.toUpperCase()))) return false;
  const parts = bodyParts(study);
  if (m.bodyPart !== undefined && !test(m.bodyPart, ...parts)) return false;
  if (m.description !== undefined && !test(m.description, study.description)) return false;
  if (m.anatomy !== undefined && !test(m.anatomy, study.description, ...parts)) return false;
  if (m.minPriors !== undefined && priorCount < m.minPriors) return false;
  if (m.maxPriors !== undefined && priorCount > m.maxPriors) return false;
  return true;
}

/** The first protocol that applies, in list order. */
export function firstMatch(protocols: Protocol[], study: StudyFacts, priorCount: number): Protocol | undefined {
  return protocols.find((p) => matches(p, study, priorCount));
}

/** Every protocol that applies, in list order (the reader's choices). */
export function allMatches(protocols: Protocol[], study: StudyFacts, priorCount: number): Protocol[] {
  return protocols.filter((p) => matches(p, study, priorCount));
}

/** The priors a protocol's viewports name (1-based, newest first). */
export function priorsNeeded(protocol: Protocol): number[] {
  return [...new Set(protocol.viewports.map((v) => v.series.prior ?? 0).filter((n) => n > 0))].sort((a, b) => a - b);
}

/** The series of `study` that `selector` picks (its `prior` is the caller's), or undefined. */
export function selectSeries(selector: SeriesSelector, study: StudyFacts): SeriesFacts | undefined {
  const candidates = study.series
    .filter((s) => !NOT_IMAGES.has(s.modality.toUpperCase()))
    .filter((s) => selector.modality === undefined || s.modality.toUpperCase() === selector.modality.toUpperCase())
    .filter((s) => selector.number === undefined || s.number === selector.number)
    .filter((s) => selector.description === undefined || test(selector.description, s.description))
    .sort((a, b) => (a.number ?? 1e9) - (b.number ?? 1e9));
  return candidates[selector.nth ?? 0];
}

/**
 * Where each viewport of `protocol` goes: `studies[0]` is the study
 * opened, `studies[n]` its nth prior (undefined when not loaded or none).
 * A viewport with nothing to show is null.
 */
export function plan(protocol: Protocol, studies: (StudyFacts | undefined)[]): (Placement | null)[] {
  const cells = layoutCells(protocol.layout);
  return protocol.viewports.slice(0, cells).map((v) => {
    const study = studies[v.series.prior ?? 0];
    const series = study && selectSeries(v.series, study);
    return study && series ? { study: study.uid, series: series.uid, preset: v.preset } : null;
  });
}

const MAX_PROTOCOLS = 100;
const MAX_PATTERN = 200;
const MAX_NAME = 120;
const MAX_PRIOR = 9;

/** The problems of a list as an administrator typed it (the server's rules), each with where it is; [] when none. */
export function validate(list: unknown): string[] {
  const problems: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const known = (at: string, o: Record<string, unknown>, keys: string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) problems.push(`${at}: unknown field ${k}`);
  };
  const int = (v: unknown, lo: number, hi: number) => v === undefined || (Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi);
  const code = (v: unknown) => typeof v === 'string' && /^[A-Z0-9]{1,16}$/.test(v);
  const pat = (at: string, v: unknown) => {
    if (v === undefined) return;
    if (typeof v !== 'string' || v.length === 0 || [...v].length > MAX_PATTERN) problems.push(`${at}: a pattern is 1 to ${MAX_PATTERN} characters`);
    else if (!pattern(v)) problems.push(`${at}: not a valid pattern`);
  };
  if (!isObject(list) || !Array.isArray(list.protocols)) return ['not a protocol list: {"protocols": [...]}'];
  known('list', list, ['protocols']);
  if (list.protocols.length > MAX_PROTOCOLS) problems.push(`at most ${MAX_PROTOCOLS} protocols`);
  const ids = new Set<string>();
  list.protocols.forEach((p: unknown, i: number) => {
    const at = `protocols[${i}]`;
    if (!isObject(p)) return problems.push(`${at}: not an object`);
    known(at, p, ['id', 'name', 'match', 'layout', 'viewports']);
    if (typeof p.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(p.id)) problems.push(`${at}.id: 1 to 64 letters, digits, '.', '_' or '-'`);
    else if (ids.has(p.id)) problems.push(`${at}.id: ${p.id} is used twice`);
    else ids.add(p.id);
    if (typeof p.name !== 'string' || !p.name.trim() || [...p.name].length > MAX_NAME || /\p{Cc}/u.test(p.name)) {
      problems.push(`${at}.name: 1 to ${MAX_NAME} characters, no control characters`);
    }
    if (p.match !== undefined) {
      if (!isObject(p.match)) problems.push(`${at}.match: not an object`);
      else {
        const m = p.match;
        known(`${at}.match`, m, ['modalities', 'bodyPart', 'description', 'anatomy', 'minPriors', 'maxPriors']);
        if (m.modalities !== undefined && (!Array.isArray(m.modalities) || m.modalities.length > 16 || !m.modalities.every(code))) {
          problems.push(`${at}.match.modalities: at most 16 upper-case codes such as CT`);
        }
        pat(`${at}.match.bodyPart`, m.bodyPart);
        pat(`${at}.match.description`, m.description);
        pat(`${at}.match.anatomy`, m.anatomy);
        if (!int(m.minPriors, 0, MAX_PRIOR) || !int(m.maxPriors, 0, MAX_PRIOR)) problems.push(`${at}.match: minPriors and maxPriors are 0 to ${MAX_PRIOR}`);
        else if (m.minPriors !== undefined && m.maxPriors !== undefined && (m.minPriors as number) > (m.maxPriors as number)) {
          problems.push(`${at}.match: minPriors is over maxPriors`);
        }
      }
    }
    const cells = typeof p.layout === 'string' && (HANGING_LAYOUTS as string[]).includes(p.layout) ? layoutCells(p.layout) : 0;
    if (!cells) return problems.push(`${at}.layout: one of ${HANGING_LAYOUTS.join(', ')}`);
    if (!Array.isArray(p.viewports) || p.viewports.length === 0 || p.viewports.length > cells) {
      return problems.push(`${at}.viewports: 1 to ${cells} for layout ${p.layout}`);
    }
    p.viewports.forEach((v: unknown, k: number) => {
      const vat = `${at}.viewports[${k}]`;
      if (!isObject(v) || !isObject(v.series)) return problems.push(`${vat}.series: not an object`);
      known(vat, v, ['series', 'preset']);
      const s = v.series;
      known(`${vat}.series`, s, ['prior', 'modality', 'description', 'number', 'nth']);
      if (!int(s.prior, 0, MAX_PRIOR) || !int(s.nth, 0, 99)) problems.push(`${vat}.series: prior is 0 to ${MAX_PRIOR}, nth 0 to 99`);
      if (s.modality !== undefined && !code(s.modality)) problems.push(`${vat}.series.modality: an upper-case code such as CT`);
      if (!int(s.number, 0, 99999)) problems.push(`${vat}.series.number: 0 to 99999`);
      pat(`${vat}.series.description`, s.description);
      if (v.preset !== undefined && !HANGING_PRESETS.includes(v.preset as string)) problems.push(`${vat}.preset: one of ${HANGING_PRESETS.join(', ')}`);
      return undefined;
    });
    return undefined;
  });
  return problems;
}
