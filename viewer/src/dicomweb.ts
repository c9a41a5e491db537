// A small DICOMweb client: QIDO-RS searches, WADO-RS metadata and the
// renditions a server may offer. Standard DICOMweb only; Yunying's stored
// renditions are an optional speed-up announced by config.json.

/** One attribute of a DICOM JSON object (PS3.18 F.2). */
export interface Attribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, Attribute>;

export interface ViewerConfig {
  /** DICOMweb root, absolute or relative to the page's origin. */
  dicomweb: string;
  /** The server keeps thumbnails, previews and lossless HTJ2K copies. */
  renditions: boolean;
}

const HTJ2K_LOSSLESS = '1.2.840.10008.1.2.4.201';

/** config.json next to index.html (Yunying writes it), then `?server=` and `?renditions=`. */
export async function loadConfig(): Promise<ViewerConfig> {
  const config: ViewerConfig = { dicomweb: '/dicom-web', renditions: false };
  try {
    const r = await fetch(new URL('config.json', document.baseURI));
    if (r.ok) Object.assign(config, await r.json());
  } catch {
    // no config: plain DICOMweb at /dicom-web
  }
  const params = new URLSearchParams(location.search);
  const server = params.get('server');
  if (server) config.dicomweb = server;
  const renditions = params.get('renditions');
  if (renditions !== null) config.renditions = renditions !== '0' && renditions !== 'false';
  config.dicomweb = new URL(config.dicomweb.replace(/\/$/, ''), location.origin).href;
  return config;
}

/** Authorization for servers that need a bearer token (kept for the tab only). */
export function authHeaders(): Record<string, string> {
  const token = sessionStorage.getItem('yunying.token');
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export class DicomWebError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export class DicomWeb {
  constructor(public config: ViewerConfig) {}

  get root(): string {
    return this.config.dicomweb;
  }

  /** QIDO-RS: `path` such as `/studies`; an empty result (204 or []) is []. */
  async search(path: string, params: Record<string, string | number | undefined>): Promise<DicomJson[]> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== '') query.append(k, String(v));
    }
    const r = await this.get(`${this.root}${path}${query.size ? `?${query}` : ''}`, 'application/dicom+json');
    if (r.status === 204) return [];
    return (await r.json()) as DicomJson[];
  }

  /** WADO-RS series metadata: one DICOM JSON object per instance. */
  async seriesMetadata(study: string, series: string): Promise<DicomJson[]> {
    const r = await this.get(`${this.root}/studies/${study}/series/${series}/metadata`, 'application/dicom+json');
    return (await r.json()) as DicomJson[];
  }

  /**
   * Called when the server answers 401 (credentials missing, a session
   * ended): the app shows its sign-in page. Nothing is retried here.
   */
  onUnauthorized?: (message: string) => void;

  /** GET with the tab's credentials: the session cookie, or a bearer token (a header, never in a URL). */
  private async get(url: string, accept: string): Promise<Response> {
    const r = await fetch(url, { headers: { Accept: accept, ...authHeaders() }, credentials: 'same-origin' });
    if (!r.ok) {
      const message = `${r.status} ${await errorText(r)}`;
      if (r.status === 401) this.onUnauthorized?.(message);
      throw new DicomWebError(r.status, message);
    }
    return r;
  }

  seriesUrl(study: string, series: string): string {
    return `${this.root}/studies/${study}/series/${series}`;
  }

  /** `wadors:` image id of one frame, as the Cornerstone loader expects. */
  frameImageId(study: string, series: string, sop: string, frame: number): string {
    return `wadors:${this.seriesUrl(study, series)}/instances/${sop}/frames/${frame}`;
  }

  /** A rendered JPEG of one frame (Yunying answers from its stored preview). */
  renderedFrameUrl(study: string, series: string, sop: string, frame: number): string {
    return `${this.seriesUrl(study, series)}/instances/${sop}/frames/${frame}/rendered`;
  }

  /**
   * The Accept header for frames: the lossless HTJ2K copy first when the
   * server keeps one, then the stored syntax.
   */
  frameAccept(): string {
    const any = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
    return this.config.renditions
      ? `multipart/related; type="application/octet-stream"; transfer-syntax=${HTJ2K_LOSSLESS}, ${any}`
      : any;
  }

  /** Fetch an image (thumbnail, preview) with credentials as an object URL. */
  async imageUrl(url: string, accept = 'image/jpeg'): Promise<string> {
    const r = await this.get(url, accept);
    return URL.createObjectURL(await r.blob());
  }
}

async function errorText(r: Response): Promise<string> {
  try {
    const body = await r.text();
    try {
      const json = JSON.parse(body);
      return json.message ?? json.error ?? body;
    } catch {
      return body.slice(0, 200);
    }
  } catch {
    return r.statusText;
  }
}

// ---------------------------------------------------------------------------
// Reading values
// ---------------------------------------------------------------------------

export function values(j: DicomJson | undefined, tag: string): unknown[] {
  return j?.[tag]?.Value ?? [];
}

export function str(j: DicomJson | undefined, tag: string): string {
  const v = values(j, tag)[0];
  return v === undefined || v === null ? '' : String(v);
}

export function num(j: DicomJson | undefined, tag: string): number | undefined {
  const v = values(j, tag)[0];
  const n = typeof v === 'number' ? v : Number.parseFloat(String(v));
  return Number.isFinite(n) ? n : undefined;
}

export function nums(j: DicomJson | undefined, tag: string): number[] {
  return values(j, tag).map((v) => (typeof v === 'number' ? v : Number.parseFloat(String(v))));
}

interface PersonName {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

/** A person name for display: `王伟 (Wang Wei)`, or whichever groups exist. */
export function personName(j: DicomJson | undefined, tag: string): string {
  const v = values(j, tag)[0] as PersonName | string | undefined;
  if (!v) return '';
  if (typeof v === 'string') return formatGroup(v);
  const ideographic = v.Ideographic ? v.Ideographic.split('^').filter(Boolean).join('') : '';
  const alphabetic = v.Alphabetic ? formatGroup(v.Alphabetic) : '';
  if (ideographic && alphabetic) return `${ideographic} (${alphabetic})`;
  return ideographic || alphabetic || formatGroup(v.Phonetic ?? '');
}

function formatGroup(group: string): string {
  return group.split('^').filter(Boolean).join(' ');
}

/** `20260315` → `2026-03-15`. */
export function formatDate(da: string): string {
  return /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : da;
}

/** `2026-03-15` (from a date input) → `20260315`. */
export function toDicomDate(iso: string): string {
  return iso.replaceAll('-', '');
}

// Tags used across the viewer, by keyword.
export const T = {
  PatientName: '00100010',
  PatientID: '00100020',
  IssuerOfPatientID: '00100021',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  StudyInstanceUID: '0020000D',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  StudyDescription: '00081030',
  InstitutionName: '00080080',
  ModalitiesInStudy: '00080061',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  SeriesInstanceUID: '0020000E',
  Modality: '00080060',
  SeriesNumber: '00200011',
  SeriesDescription: '0008103E',
  NumberOfSeriesRelatedInstances: '00201209',
  SOPInstanceUID: '00080018',
  SOPClassUID: '00080016',
  InstanceNumber: '00200013',
  NumberOfFrames: '00280008',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  SliceLocation: '00201041',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  WindowCenterWidthExplanation: '00281055',
} as const;

/** The study attributes the worklist, priors and overlays show (QIDO `includefield`). */
export const STUDY_FIELDS = [
  T.StudyDescription, T.ModalitiesInStudy, T.InstitutionName, T.PatientBirthDate, T.PatientSex,
  T.IssuerOfPatientID, T.NumberOfStudyRelatedSeries, T.NumberOfStudyRelatedInstances,
].join(',');
