// Who is using the viewer: the access layer's principal (`/api/access/whoami`)
// and, for a signed-in person, their session (`/api/auth/me`).

import { ApiError, api } from './api';

/** `/api/access/whoami`. */
export interface Principal {
  id: string;
  name: string;
  institution: string | null;
  roles: string[];
  /** What the principal may do, as the server describes actions. */
  may: string[];
}

/** `/api/auth/me` for a session. */
export interface Me {
  user_id?: string | null;
  user?: string;
  display_name?: string | null;
  institution?: string | null;
  roles?: string[];
  totp?: boolean;
  needs_totp_enrolment?: boolean;
  session_id?: string;
}

export type Who =
  /** A server without the access layer (plain DICOMweb, an older Yunying): no sign-in. */
  | { kind: 'none' }
  /** Credentials needed (401), or an error reaching the server. */
  | { kind: 'signed-out'; message?: string }
  /** An administrator signed in without a second factor: enrolment only. */
  | { kind: 'enrol'; me: Me }
  | { kind: 'signed-in'; principal: Principal; me?: Me };

/** The actions as `/api/access/whoami` names them. */
export const MAY = {
  manageAccounts: 'manage accounts',
  manageSystem: 'manage the system',
  assignRoles: 'assign roles',
  manageKeys: 'manage API keys',
  readAudit: 'read access records',
  breakGlass: 'use emergency access',
  search: 'search studies',
} as const;

export function may(who: Who, action: string): boolean {
  return who.kind === 'signed-in' && who.principal.may.includes(action);
}

/** Whether the principal may use any part of the administration page. */
export function isAdmin(who: Who): boolean {
  return [MAY.manageAccounts, MAY.manageSystem, MAY.assignRoles, MAY.manageKeys, MAY.readAudit].some((a) => may(who, a));
}

/** Ask the server who we are. */
export async function whoAmI(): Promise<Who> {
  // The session first: an enrolment-only session is a principal that may do
  // nothing, which whoami alone would not tell apart from a clinician.
  let me: Me | undefined;
  try {
    me = await api<Me>('GET', '/api/auth/me');
  } catch {
    // no session (401), a bearer token or anonymous access, or no people API
  }
  if (me?.needs_totp_enrolment) return { kind: 'enrol', me };
  try {
    const principal = await api<Principal>('GET', '/api/access/whoami');
    return { kind: 'signed-in', principal, me };
  } catch (e) {
    const status = e instanceof ApiError ? e.status : 0;
    if (status === 401) return { kind: 'signed-out', message: (e as Error).message };
    // 404 (no such API) or a server that answers something else: carry on
    // as a plain DICOMweb viewer; DICOMweb itself says what it refuses.
    return { kind: 'none' };
  }
}

/** A name to show: the display name when there is one. */
export function displayName(who: Who): string {
  if (who.kind === 'signed-in') return who.me?.display_name || who.principal.name;
  if (who.kind === 'enrol') return who.me.display_name || who.me.user || '';
  return '';
}

/** Whether the user is a signed-in person with a session cookie. */
export function hasSession(who: Who): boolean {
  return (who.kind === 'signed-in' && !!who.me?.session_id) || who.kind === 'enrol';
}
