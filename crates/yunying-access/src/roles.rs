//! Roles, the actions they permit, and the rules on who may give a role.
//!
//! Clinical roles reach studies (their institution's, and granted ones);
//! the administrator roles reach no study at all. The three administrators
//! of 等保 level 3 are separated: the system administrator runs the
//! platform (nodes, AEs, accounts, configuration), the security
//! administrator decides who may do what (roles, keys), the audit
//! administrator reads the access records and nothing else. No account
//! holds two of them, and no one changes their own roles.

use std::fmt;

/// Something a principal may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Search studies, series, instances (QIDO-RS, C-FIND).
    Search,
    /// Look at images: metadata, rendered images, thumbnails, frames.
    View,
    /// Take whole original instances away (WADO-RS instances and bulk
    /// data, C-MOVE, C-GET, a film's download).
    Retrieve,
    /// Send instances in (STOW-RS, C-STORE).
    Store,
    /// Ask for storage commitment.
    Commit,
    /// Make cloud films of studies in scope, and manage them.
    Films,
    /// Give a colleague or another institution access to studies in scope
    /// (a referral; recognition requests and consents come later).
    Grant,
    /// Reach a study outside scope for a stated reason, for a short time.
    BreakGlass,
    /// Create, disable and unlock accounts; see and end sessions.
    ManageAccounts,
    /// The AE registry and the platform's configuration.
    ManageSystem,
    /// Give and take roles.
    AssignRoles,
    /// Create and revoke API keys.
    ManageKeys,
    /// Read access records (film events, access events).
    ReadAudit,
    /// Retention policies, patient classes of studies, legal holds.
    ManageRetention,
    /// Ask for studies or series to be deleted (the first of two people).
    RequestDeletion,
    /// Approve or refuse someone else's deletion request (the second).
    ApproveDeletion,
    /// The patient index across institutions (EMPI): feed identities,
    /// look a person up, merge and unmerge.
    Patients,
    /// Mutual recognition of exams (检查互认): ask for the prior results
    /// of an order, decide on them, read the institution's statistics.
    Recognition,
    /// Remote reading at a reading centre: the requests sent to the
    /// person's institution, claiming one, drafting its report.
    Reading,
    /// Review and sign reading reports (an attending radiologist).
    SignReports,
    /// Ask another institution to read a study of one's own (a HIS, a
    /// technologist, a referring doctor).
    RequestReading,
}

impl Action {
    /// Every action, for tables and tests.
    pub const ALL: [Action; 21] = [
        Action::Search,
        Action::View,
        Action::Retrieve,
        Action::Store,
        Action::Commit,
        Action::Films,
        Action::Grant,
        Action::BreakGlass,
        Action::ManageAccounts,
        Action::ManageSystem,
        Action::AssignRoles,
        Action::ManageKeys,
        Action::ReadAudit,
        Action::ManageRetention,
        Action::RequestDeletion,
        Action::ApproveDeletion,
        Action::Patients,
        Action::Recognition,
        Action::Reading,
        Action::SignReports,
        Action::RequestReading,
    ];

    /// Whether the action reaches patients' studies (and so is bounded by
    /// the principal's scope).
    pub fn is_clinical(self) -> bool {
        matches!(self, Action::Search | Action::View | Action::Retrieve | Action::Store | Action::Commit | Action::Films | Action::Grant)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Actions(u32);

impl Actions {
    pub const NONE: Actions = Actions(0);

    pub fn of(actions: &[Action]) -> Actions {
        Actions(actions.iter().fold(0, |bits, a| bits | a.bit()))
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn intersection(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A person's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Radiologist,
    /// A radiologist in training (住院医师): drafts reading reports that
    /// an attending radiologist reviews and signs.
    Resident,
    /// A referring clinician: reads images and reports of their patients.
    Referring,
    Technologist,
    /// Manages the accounts and clinical roles of one institution.
    InstitutionAdmin,
    /// 系统管理员: nodes, AEs, accounts, configuration.
    SystemAdmin,
    /// 安全管理员: roles, policies, keys.
    SecurityAdmin,
    /// 审计管理员: reads the access records, nothing else.
    AuditAdmin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Radiologist,
        Role::Resident,
        Role::Referring,
        Role::Technologist,
        Role::InstitutionAdmin,
        Role::SystemAdmin,
        Role::SecurityAdmin,
        Role::AuditAdmin,
    ];

    /// The name in configuration, the API and the database.
    pub fn name(self) -> &'static str {
        match self {
            Role::Radiologist => "radiologist",
            Role::Resident => "resident",
            Role::Referring => "referring",
            Role::Technologist => "technologist",
            Role::InstitutionAdmin => "institution-admin",
            Role::SystemAdmin => "system-admin",
            Role::SecurityAdmin => "security-admin",
            Role::AuditAdmin => "audit-admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// One of the three separated administrators of 等保 level 3.
    pub fn is_separated_admin(self) -> bool {
        matches!(self, Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin)
    }

    /// A role that needs a second factor (TOTP) to sign in with a password.
    pub fn requires_second_factor(self) -> bool {
        self.is_separated_admin() || self == Role::InstitutionAdmin
    }

    /// Radiologist, resident, referring clinician or technologist.
    pub fn is_clinical(self) -> bool {
        matches!(self, Role::Radiologist | Role::Resident | Role::Referring | Role::Technologist)
    }

    /// What the role permits.
    pub fn actions(self) -> Actions {
        use Action::*;
        Actions::of(match self {
            Role::Radiologist => &[Search, View, Retrieve, Films, Grant, BreakGlass, Recognition, Reading, SignReports, RequestReading],
            Role::Resident => &[Search, View, Reading],
            Role::Referring => &[Search, View, BreakGlass, Recognition, RequestReading],
            Role::Technologist => &[Search, View, Store, RequestReading],
            // Retention and deletion: within its institution (the
            // retention crate checks the issuer of every study named).
            Role::InstitutionAdmin => &[ManageAccounts, ManageRetention, RequestDeletion, ApproveDeletion],
            Role::SystemAdmin => &[ManageAccounts, ManageSystem, ManageRetention, RequestDeletion, ApproveDeletion, Patients],
            Role::SecurityAdmin => &[AssignRoles, ManageKeys],
            Role::AuditAdmin => &[ReadAudit],
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The actions of a set of roles.
pub fn actions_of(roles: &[Role]) -> Actions {
    roles.iter().fold(Actions::NONE, |a, r| a.union(r.actions()))
}

/// Why a set of roles cannot be held by one account.
pub fn check_role_set(roles: &[Role]) -> Result<(), String> {
    let admins: Vec<&str> = roles.iter().filter(|r| r.is_separated_admin()).map(|r| r.name()).collect();
    if admins.len() > 1 {
        return Err(format!(
            "one account may hold only one of the system, security and audit administrator roles, not {}",
            admins.join(" and ")
        ));
    }
    if !admins.is_empty() && roles.iter().any(|r| r.is_clinical()) {
        return Err("an administrator account cannot also hold a clinical role: use a separate account".into());
    }
    Ok(())
}

/// Whether someone holding `assigner` roles (at `assigner_institution`,
/// `None` for the platform) may set `target`'s roles to `roles` for an
/// account of `target_institution`. Nobody sets their own roles
/// (`same_account`).
pub fn may_assign(
    assigner: &[Role],
    assigner_institution: Option<&str>,
    same_account: bool,
    target_institution: Option<&str>,
    roles: &[Role],
) -> Result<(), String> {
    if same_account {
        return Err("no one may change their own roles".into());
    }
    check_role_set(roles)?;
    if assigner.contains(&Role::SecurityAdmin) {
        return Ok(());
    }
    if assigner.contains(&Role::InstitutionAdmin) {
        if assigner_institution.is_none() || assigner_institution != target_institution {
            return Err("an institution administrator manages the accounts of their own institution only".into());
        }
        if let Some(r) = roles.iter().find(|r| !r.is_clinical()) {
            return Err(format!("an institution administrator may give clinical roles only, not {r}"));
        }
        return Ok(());
    }
    Err("giving roles is the security administrator's job (or an institution administrator's, for clinical roles)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrators_do_not_do_each_others_jobs() {
        let jobs = [
            (Role::SystemAdmin, Action::ManageSystem),
            (Role::SecurityAdmin, Action::AssignRoles),
            (Role::SecurityAdmin, Action::ManageKeys),
            (Role::AuditAdmin, Action::ReadAudit),
        ];
        for admin in [Role::SystemAdmin, Role::SecurityAdmin, Role::AuditAdmin] {
            for (owner, action) in jobs {
                assert_eq!(admin.actions().contains(action), admin == owner, "{admin} / {action:?}");
            }
            for action in Action::ALL.into_iter().filter(|a| a.is_clinical()) {
                assert!(!admin.actions().contains(action), "{admin} reaches no study ({action:?})");
            }
        }
    }

    #[test]
    fn the_audit_administrator_deletes_nothing() {
        for action in [Action::RequestDeletion, Action::ApproveDeletion, Action::ManageRetention] {
            assert!(!Role::AuditAdmin.actions().contains(action), "{action:?}");
            assert!(!Role::SecurityAdmin.actions().contains(action), "{action:?}");
            for clinical in [Role::Radiologist, Role::Referring, Role::Technologist] {
                assert!(!clinical.actions().contains(action), "{clinical} / {action:?}");
            }
        }
        assert!(Role::SystemAdmin.actions().contains(Action::ApproveDeletion));
        assert!(Role::InstitutionAdmin.actions().contains(Action::RequestDeletion));
    }

    #[test]
    fn one_account_holds_one_administrator_role() {
        assert!(check_role_set(&[Role::SystemAdmin, Role::AuditAdmin]).is_err());
        assert!(check_role_set(&[Role::SecurityAdmin, Role::Radiologist]).is_err());
        assert!(check_role_set(&[Role::Radiologist, Role::Technologist]).is_ok());
    }

    #[test]
    fn no_one_grants_themselves_more() {
        let sec = [Role::SecurityAdmin];
        assert!(may_assign(&sec, None, true, None, &[Role::SecurityAdmin]).is_err());
        assert!(may_assign(&sec, None, false, Some("A"), &[Role::Radiologist]).is_ok());
        let inst = [Role::InstitutionAdmin];
        assert!(may_assign(&inst, Some("A"), false, Some("A"), &[Role::Radiologist]).is_ok());
        assert!(may_assign(&inst, Some("A"), false, Some("B"), &[Role::Radiologist]).is_err());
        assert!(may_assign(&inst, Some("A"), false, Some("A"), &[Role::InstitutionAdmin]).is_err());
        assert!(may_assign(&[Role::SystemAdmin], None, false, Some("A"), &[Role::Radiologist]).is_err());
        assert!(may_assign(&[Role::AuditAdmin], None, false, Some("A"), &[Role::Radiologist]).is_err());
    }
}
