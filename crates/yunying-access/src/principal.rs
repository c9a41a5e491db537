//! Who asks: a person, a system's API key, a DICOM peer, a film session.

use crate::roles::{Action, Actions, Role, actions_of};

/// Someone or something a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable id for records: `person:<user id>`, `key:<key id>`,
    /// `ae:<AE title>`, `film:<film id>`, `config:<setting>`, `anonymous`.
    pub id: String,
    /// For people to read (a username, a key's name, an AE title).
    pub name: String,
    pub kind: Kind,
    /// The institution it belongs to (its code, the issuer of its
    /// patients' IDs); `None`: the platform itself.
    pub institution: Option<String>,
    /// What it may do.
    pub actions: Actions,
    /// Which studies it reaches before grants.
    pub reach: Reach,
}

/// The kind of principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A person signed in (local account or OpenID Connect).
    Person { user_id: String, roles: Vec<Role> },
    /// A system with an API key (HIS, PACS, an OHIF deployment).
    Key { key_id: String },
    /// A DICOM application entity calling us.
    Ae { title: String },
    /// A verified cloud film session.
    Film { film_id: String },
    /// A credential from the configuration file (`http.bearer_token`,
    /// `http.api_token`: the settings before API keys).
    Configured,
    /// No credentials, let in by `access.anonymous = "loopback"`.
    Anonymous,
}

/// The studies a principal reaches before grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every study (platform keys and AEs, the loopback trial setting).
    All,
    /// Studies of patients this institution issued the IDs of; grants to
    /// the principal or the institution add others.
    Institution(String),
    /// Exactly these studies (a film).
    Studies(Vec<String>),
    /// None but granted ones (a person with no institution).
    Granted,
}

impl Principal {
    /// A person with these roles at `institution`.
    pub fn person(user_id: &str, name: &str, institution: Option<&str>, roles: Vec<Role>) -> Principal {
        let reach = match institution {
            Some(code) => Reach::Institution(code.to_string()),
            None => Reach::Granted,
        };
        Principal {
            id: format!("person:{user_id}"),
            name: name.to_string(),
            institution: institution.map(str::to_string),
            actions: actions_of(&roles),
            reach,
            kind: Kind::Person { user_id: user_id.to_string(), roles },
        }
    }

    /// A film session: viewing (and downloading, when the film allows it)
    /// the film's studies.
    pub fn film(film_id: &str, studies: Vec<String>, download: bool) -> Principal {
        let mut actions = vec![Action::Search, Action::View];
        if download {
            actions.push(Action::Retrieve);
        }
        Principal {
            id: format!("film:{film_id}"),
            name: format!("film {film_id}"),
            kind: Kind::Film { film_id: film_id.to_string() },
            institution: None,
            actions: Actions::of(&actions),
            reach: Reach::Studies(studies),
        }
    }

    /// A DICOM peer calling us with these registered rights. An AE bound to
    /// an institution reaches that institution's studies (and its grants);
    /// one registered without an institution speaks for the platform (AEs
    /// registered before institutions were required); an unregistered
    /// caller (`registered` false) reaches no study, whatever it may send.
    pub fn ae(title: &str, institution: Option<&str>, rights: yunying_index::AeRights, registered: bool) -> Principal {
        use yunying_index::AeRights;
        let mut actions = Vec::new();
        for (right, action) in [
            (AeRights::STORE, Action::Store),
            (AeRights::FIND, Action::Search),
            (AeRights::MOVE, Action::Retrieve),
            (AeRights::GET, Action::Retrieve),
            (AeRights::COMMIT, Action::Commit),
        ] {
            if rights.contains(right) {
                actions.push(action);
            }
        }
        let institution = institution.filter(|i| !i.is_empty());
        let reach = match (registered, institution) {
            (false, _) => Reach::Granted,
            (true, Some(code)) => Reach::Institution(code.to_string()),
            (true, None) => Reach::All,
        };
        Principal {
            id: format!("ae:{title}"),
            name: title.to_string(),
            kind: Kind::Ae { title: title.to_string() },
            institution: institution.map(str::to_string),
            actions: Actions::of(&actions),
            reach,
        }
    }

    /// Whether it may do `action` at all (its scope aside).
    pub fn may(&self, action: Action) -> bool {
        self.actions.contains(action)
    }

    /// The roles of a person; none for others.
    pub fn roles(&self) -> &[Role] {
        match &self.kind {
            Kind::Person { roles, .. } => roles,
            _ => &[],
        }
    }

    /// The person's user id, if a person.
    pub fn user_id(&self) -> Option<&str> {
        match &self.kind {
            Kind::Person { user_id, .. } => Some(user_id),
            _ => None,
        }
    }
}

/// What an API key may do: `dicomweb:read` (search, view, retrieve),
/// `stow` (store), `films:create` (make and manage cloud films), `empi`
/// (a hospital MPI's feed: identities, merges, person lookups),
/// `recognition` (a HIS asking for an order's prior results), `reading`
/// (a HIS asking another institution to read a study, and reading its
/// requests' state).
pub const KEY_SCOPES: [(&str, &[Action]); 6] = [
    ("dicomweb:read", &[Action::Search, Action::View, Action::Retrieve]),
    ("stow", &[Action::Store]),
    ("films:create", &[Action::Films]),
    ("empi", &[Action::Patients]),
    ("recognition", &[Action::Recognition]),
    ("reading", &[Action::RequestReading]),
];

/// The actions of a comma-separated scope list; an unknown scope is an error.
pub fn scope_actions(scopes: &str) -> Result<Actions, String> {
    let mut actions = Actions::NONE;
    for name in scopes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (_, a) = KEY_SCOPES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("unknown scope {name:?} (known: dicomweb:read, stow, films:create, empi, recognition, reading)"))?;
        actions = actions.union(Actions::of(a));
    }
    Ok(actions)
}
