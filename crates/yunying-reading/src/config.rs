//! `[reading]`: remote reading's settings and the relationships and
//! templates it starts with.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ReadingError;
use crate::model::{Relationship, Template};

/// Settings of remote reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingConfig {
    /// Relationships stored when none is (the API replaces them).
    pub relationships: Vec<Relationship>,
    /// Templates stored when none is; the built-in zh-CN set when empty.
    pub templates: Vec<Template>,
    /// How long a request's grant lasts, in days.
    pub grant_days: u32,
    /// Most priors (the patient's other studies, across institutions)
    /// opened to the reading institution with a request.
    pub max_priors: u32,
    /// A study is routed this long after its last instance arrived.
    pub settle_secs: u32,
    /// The font the report PDF is set in (a TrueType/OpenType file or
    /// collection with Chinese glyphs); searched for when not set.
    pub font: Option<PathBuf>,
    /// The local time of reports (minutes east of UTC; China: 480).
    pub utc_offset_minutes: i32,
}

impl Default for ReadingConfig {
    fn default() -> Self {
        ReadingConfig {
            relationships: Vec::new(),
            templates: Vec::new(),
            grant_days: 30,
            max_priors: 10,
            settle_secs: 10,
            font: None,
            utc_offset_minutes: 480,
        }
    }
}

impl ReadingConfig {
    pub fn check(&self) -> Result<(), ReadingError> {
        for r in &self.relationships {
            r.check()?;
        }
        for t in &self.templates {
            t.check()?;
        }
        if self.grant_days == 0 || self.grant_days > 3650 {
            return Err(ReadingError::Invalid("[reading] grant_days is 1 to 3650".into()));
        }
        if self.max_priors > 100 {
            return Err(ReadingError::Invalid("[reading] max_priors is at most 100".into()));
        }
        if self.settle_secs > 3600 {
            return Err(ReadingError::Invalid("[reading] settle_secs is at most 3600".into()));
        }
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return Err(ReadingError::Invalid("[reading] utc_offset_minutes is -840 to 840".into()));
        }
        Ok(())
    }
}
