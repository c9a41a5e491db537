// Remote reading's JSON API (`/api/reading/*`, crates/yunying-http's
// reading_api.rs) as the viewer uses it: the shapes it answers with and the
// calls. Every rule (who may claim, write, sign, amend; two-step signing)
// is the server's: the views show what it answers and its refusals.

import { api } from './api';
import { Who, may } from './session';

/** The actions as `/api/access/whoami` describes them. */
export const READING_MAY = {
  read: 'read studies sent for reading',
  sign: 'review and sign reading reports',
  request: 'ask another institution to read a study',
} as const;

/** Whether the principal may see a reading worklist (either side). */
export function mayUseReading(who: Who): boolean {
  return who.kind === 'signed-in' && !!who.principal.institution
    && (may(who, READING_MAY.read) || may(who, READING_MAY.request) || may(who, 'search studies'));
}

export const STATUSES = ['new', 'claimed', 'draft', 'awaiting-review', 'signed', 'returned', 'cancelled'] as const;
export type Status = typeof STATUSES[number];
export const PRIORITIES = ['emergency', 'urgent', 'routine'] as const;
/** The statuses a requesting institution may still cancel (the server's `cancel_as`). */
export const CANCELLABLE = ['new', 'claimed', 'draft', 'awaiting-review'];
/** The server's bounds of a request (yunying-reading: `MAX_CLINICAL`, the HIS order's 64). */
export const MAX_CLINICAL = 2000;
export const MAX_HIS_ORDER = 64;

/** `POST /api/reading/requests` (the server's `NewRequest`). */
export interface NewRequest {
  study_instance_uid: string;
  /** The reading institution's code; empty: the first relationship that covers the study. */
  reading?: string;
  priority?: typeof PRIORITIES[number];
  clinical_info?: string;
  his_order_id?: string;
}

export interface RequestView {
  request_id: string;
  study_instance_uid: string;
  requesting: string;
  requesting_name: string;
  reading: string;
  reading_name: string;
  priority: string;
  status: string;
  modality: string;
  body_part: string;
  clinical_info: string;
  his_order_id: string;
  source: string;
  claimed_by: string;
  /** The holder's display name ("" when nobody holds it). */
  claimed_by_name: string;
  created_ms: number;
  due_ms: number;
  overdue: boolean;
  signed_ms: number | null;
  returned_ms: number | null;
  report_version: number;
  critical: boolean;
  critical_notified_ms: number | null;
  patient_name: string;
  patient_id: string;
  patient_sex: string;
  patient_birth_date: string;
  study_date: string;
  study_description: string;
  accession_number: string;
  num_instances: number;
}

export interface WorklistPage {
  total: number;
  requests: RequestView[];
  counts: [string, number][];
}

export interface KeyImage {
  series_instance_uid: string;
  sop_instance_uid: string;
  sop_class_uid?: string;
  frame?: number | null;
}

export interface Measurement {
  label: string;
  value: number;
  unit: string;
  image?: KeyImage | null;
  /** Its graphic on the image, in pixels (column, row) as DICOM GraphicData has them. */
  points?: [number, number][];
}

export interface ReportContent {
  template_id: string;
  findings: string;
  impression: string;
  critical: boolean;
  measurements: Measurement[];
  key_images: KeyImage[];
}

export interface ReportView {
  version: number;
  current: boolean;
  state: string;
  content: ReportContent;
  author: string;
  author_name: string;
  verifier: string;
  verifier_name: string;
  created_ms: number;
  updated_ms: number;
  signed_ms: number | null;
  content_digest: string;
  signature: string;
  amend_reason: string;
  objects: unknown;
}

export interface DeliveryView {
  version: number;
  channel: string;
  target: string;
  attempts: number;
  done_ms: number | null;
  error: string;
}

export interface RequestDetail {
  request: RequestView;
  reports: ReportView[];
  deliveries: DeliveryView[];
  priors: string[];
  may_write: boolean;
  may_sign: boolean;
  side: 'reading' | 'requesting';
}

export interface Template {
  id: string;
  name: string;
  modality: string;
  body_part: string;
  findings: string;
  impression: string;
}

export interface StatsLine {
  key: string;
  /** The institution's name, the radiologist's display name, or the key. */
  name: string;
  requests: number;
  signed: number;
  backlog: number;
  overdue: number;
  within_target: number;
  turnaround_p50_min: number | null;
  turnaround_p90_min: number | null;
  critical: number;
  critical_notified: number;
  notify_p50_min: number | null;
}

export interface Stats {
  by: string;
  from_ms: number;
  to_ms: number;
  lines: StatsLine[];
  total: StatsLine;
  truncated: boolean;
}

/** The query string of `params` without its empty values. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const path = (id: string, tail = '') => `/api/reading/requests/${encodeURIComponent(id)}${tail}`;

/**
 * `api` with PUT: api.ts types the methods the rest of the viewer uses
 * (GET, POST, DELETE); what it does is the same for any method.
 */
const put = <T>(p: string, body: unknown): Promise<T> =>
  (api as unknown as (m: string, p: string, b: unknown) => Promise<T>)('PUT', p, body);

export const reading = {
  worklist: (params: Record<string, string | number | undefined>) => api<WorklistPage>('GET', `/api/reading/worklist${query(params)}`),
  detail: (id: string) => api<RequestDetail>('GET', path(id)),
  templates: () => api<Template[]>('GET', '/api/reading/templates'),
  /** Ask another institution to read a study (the requesting side). */
  create: (r: NewRequest) => api<RequestView>('POST', '/api/reading/requests', r),
  cancel: (id: string) => api('POST', path(id, '/cancel'), {}),
  claim: (id: string) => api('POST', path(id, '/claim'), {}),
  release: (id: string) => api('POST', path(id, '/release'), {}),
  save: (id: string, content: ReportContent, submit: boolean) =>
    put<ReportView>(path(id, '/report'), submit ? { content, submit: true } : { content }),
  // The version and its `updated_ms` as read: a correction saved since is refused.
  sign: (id: string, version: number, updated_ms: number) => api<ReportView>('POST', path(id, '/sign'), { version, updated_ms }),
  amend: (id: string, reason: string) => api<ReportView>('POST', path(id, '/amend'), { reason }),
  statistics: (params: Record<string, string | number | undefined>) => api<Stats>('GET', `/api/reading/statistics${query(params)}`),
  /** All for the system administrator (admin-reading.ts), else the principal's institution's (either side). */
  relationships: () => api<Relationship[]>('GET', '/api/reading/relationships'),
  putRelationship: (r: Relationship) => put('/api/reading/relationships', r),
  removeRelationship: (requesting: string, readingCode: string) =>
    api('DELETE', `/api/reading/relationships/${encodeURIComponent(requesting)}/${encodeURIComponent(readingCode)}`),
  putTemplate: (t: Template) => put(`/api/reading/templates/${encodeURIComponent(t.id)}`, t),
  removeTemplate: (id: string) => api('DELETE', `/api/reading/templates/${encodeURIComponent(id)}`),
};

/** Which institution reads for which (the server checks every field). */
export interface Relationship {
  requesting: string;
  reading: string;
  /** Modalities covered (empty: all). */
  modalities?: string[];
  /** The priority of its automatic requests. */
  priority?: string;
  [field: string]: unknown;
}

/** What tests read of the reading views (`window.yunying.reading`). */
export interface ReadingState {
  view: 'worklist' | 'request' | 'statistics' | 'error';
  /** The address rendered. */
  hash: string;
  page?: WorklistPage;
  detail?: RequestDetail;
  stats?: Stats;
  /** The report being written, as it would be saved now. */
  draft?: ReportContent;
  /** The last message shown (a server refusal, or what was done). */
  message?: string;
}
