// Hanging protocols in the reading view: the list the server keeps
// (`/api/viewer/hanging-protocols`; without it, as on a plain DICOMweb
// server, the manual layout), the first protocol that matches applied when
// a study opens, a dropdown to choose another or the manual layout, and
// `h` to cycle. The rules are hanging.ts's; this puts their answer on the
// viewports: layout, series (priors loaded as needed) and windows.

import { api } from './api';
import { T, str, values } from './dicomweb';
import { h } from './dom';
import { Placement, Protocol, StudyFacts, allMatches, plan, priorsNeeded } from './hanging';
import { t } from './i18n';
import type { Panel } from './panel';
import { alignByAnatomy, startIndex } from './prior-offsets';
import { showPriorReports } from './prior-report';
import { type Prior, type Study, loadSeries } from './study';
import type { Layout, Reader } from './viewer';

export function studyFacts(study: Study): StudyFacts {
  return {
    uid: study.uid,
    description: str(study.json, T.StudyDescription),
    modalities: values(study.json, T.ModalitiesInStudy).map(String),
    series: study.series.map((s) => ({ uid: s.uid, number: s.number, description: s.description, modality: s.modality, bodyPart: s.bodyPart })),
  };
}

/** Resolves once `ready()` holds (checked every animation frame, at most 10 s). */
function until(ready: () => boolean): Promise<void> {
  const deadline = performance.now() + 10000;
  return new Promise((resolve) => {
    const check = () => (ready() || performance.now() > deadline ? resolve() : requestAnimationFrame(check));
    check();
  });
}

export class Hanging {
  /** Every protocol the server lists. */
  protocols: Protocol[] = [];
  /** The protocol applied; undefined: the manual layout. */
  current?: Protocol;
  private select = h('select', { 'data-testid': 'hanging', title: t('hangingHint') });
  private applying = 0;
  /** The shift (mm, prior − study) estimated by anatomy for each prior lined up so. */
  readonly estimated: Record<string, number> = {};

  constructor(private reader: Reader) {
    this.select.addEventListener('change', () => {
      const chosen = this.protocols.find((p) => p.id === this.select.value);
      void this.apply(chosen);
    });
  }

  /**
   * The priors protocols count and hang: the same patient's at the same
   * institution (same Patient ID and issuer). Those of other institutions
   * (linked by the patient index, or only alike in name and birth date) are
   * listed for "Compare" but never hung by themselves.
   */
  private priors(): Prior[] {
    return this.reader.priors.filter((p) => !p.otherInstitution && !p.linkedInstitution);
  }

  /** The protocols that apply to the study opened, in list order. */
  choices(): Protocol[] {
    return allMatches(this.protocols, studyFacts(this.reader.study), this.priors().length);
  }

  /** Fetch the list and apply the first protocol that matches; false when none does. */
  async start(priors: Promise<Prior[]>): Promise<boolean> {
    try {
      this.protocols = (await api<{ protocols: Protocol[] }>('GET', '/api/viewer/hanging-protocols')).protocols;
    } catch {
      this.protocols = [];
    }
    if (!this.protocols.length) return false;
    this.reader.priors = await priors;
    const first = this.choices()[0];
    if (!first) {
      this.render();
      return false;
    }
    await this.apply(first);
    return true;
  }

  /** The next protocol that applies (after the last, the manual layout). */
  cycle(): void {
    const list = this.choices();
    const at = this.current ? list.findIndex((p) => p.id === this.current!.id) : -1;
    void this.apply(list[at + 1]);
  }

  /** Apply `protocol`, or go back to the manual layout (one viewport, the first series). */
  async apply(protocol: Protocol | undefined): Promise<void> {
    const run = ++this.applying;
    this.current = protocol;
    this.render();
    const reader = this.reader;
    if (!protocol) {
      reader.setLayout('1x1');
      const first = reader.study.series.find((s) => s.count > 0) ?? reader.study.series[0];
      if (first) await reader.panels[0].show(reader.study, first);
      return;
    }
    const priors = this.priors();
    const studies: (Study | undefined)[] = [reader.study];
    for (const n of priorsNeeded(protocol)) {
      const prior = priors[n - 1];
      studies[n] = prior ? await reader.studyOf(prior.uid).catch(() => undefined) : undefined;
    }
    if (run !== this.applying) return;
    const placements = plan(protocol, studies.map((s) => (s ? studyFacts(s) : undefined)));
    reader.setLayout(protocol.layout as Layout);
    const place = async (panel: Panel, at: Placement, anchor?: Panel) => {
      const study = studies.find((s) => s?.uid === at.study)!;
      const series = study.series.find((s) => s.uid === at.series)!;
      let index = 0;
      if (anchor && study !== reader.study) {
        await loadSeries(reader.web, series);
        index = startIndex(anchor, series);
      }
      if (run !== this.applying) return;
      await panel.show(study, series, index);
      await until(() => panel.state().firstImage || run !== this.applying);
      if (run === this.applying) panel.setPreset(at.preset ?? 'default');
    };
    // The study opened first (the priors start beside its first viewport), then the rest at once.
    const anchorAt = placements.findIndex((p) => p?.study === reader.study.uid);
    const anchor = anchorAt >= 0 ? reader.panels[anchorAt] : undefined;
    // A viewport taken away meanwhile (another protocol chosen) never shows its image: no error here.
    const placed = (panel: Panel, at: Placement, from?: Panel) => place(panel, at, from).catch(() => undefined);
    if (anchor) await placed(anchor, placements[anchorAt]!);
    await Promise.all(placements.map((p, i) => (p && i !== anchorAt ? placed(reader.panels[i], p, anchor) : undefined)));
    if (run !== this.applying) return;
    reader.activate(anchor ?? reader.panels[0]);
    if (placements.some((p) => p && p.study !== reader.study.uid)) reader.setSync(true);
    void showPriorReports(reader.web, reader.study.uid, reader.panels);
    if (anchor) void this.lineUp(run, anchor, placements);
  }

  /** Each prior's viewports lined up with the study by anatomy once loaded (prior-offsets.ts), then scrolled together. */
  private async lineUp(run: number, anchor: Panel, placements: (Placement | null)[]): Promise<void> {
    const reader = this.reader;
    const byPrior = new Map<string, Panel[]>();
    placements.forEach((p, i) => {
      if (p && p.study !== reader.study.uid) byPrior.set(p.study, [...(byPrior.get(p.study) ?? []), reader.panels[i]]);
    });
    for (const [study, panels] of byPrior) {
      const d = await alignByAnatomy(anchor, panels, () => run === this.applying);
      if (d === undefined || run !== this.applying) continue;
      this.estimated[study] = d;
      // A jump to another image may bring back the dataset's window: the protocol's again.
      placements.forEach((p, i) => {
        if (p?.study === study) reader.panels[i].setPreset(p.preset ?? 'default');
      });
      reader.alignSync();
    }
  }

  /** The toolbar's dropdown (the same element each time the toolbar is drawn). */
  control(): HTMLElement {
    this.render();
    return h('span', { class: 'group hanging' }, `${t('hanging')}:`, this.select);
  }

  private render(): void {
    const list = this.reader.study ? this.choices() : [];
    const shown = this.current && !list.some((p) => p.id === this.current!.id) ? [this.current, ...list] : list;
    this.select.replaceChildren(
      h('option', { value: '' }, t('hangingManual')),
      ...shown.map((p) => h('option', { value: p.id }, p.name)),
    );
    this.select.value = this.current?.id ?? '';
  }

  /** What tests read: the protocol applied and the choices. */
  state(): { protocol?: string; name?: string; choices: string[]; estimated: Record<string, number> } {
    return { protocol: this.current?.id, name: this.current?.name, choices: this.choices().map((p) => p.id), estimated: { ...this.estimated } };
  }
}
