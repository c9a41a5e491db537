//! Writes an `AuditMessage` as the XML of PS3.15 A.5.1: one line, UTF-8,
//! no XML declaration (the syslog MSG carries a BOM and the encoding is
//! UTF-8 by default), elements in the order the schema's groups require.
//!
//! Escaping: `&`, `<`, `>`, `"` and `'` become entities; tab, line feed and
//! carriage return become character references (kept through attribute
//! normalisation, and the message stays one line); characters XML 1.0 does not allow
//! at all (the C0 controls but those three, U+FFFE, U+FFFF) become U+FFFD.
//! Chinese and any other Unicode text is written as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::model::{ActiveParticipant, AuditMessage, Code, ObjectDescription, ObjectName, ParticipantObject};
use crate::time::rfc3339_utc;

impl AuditMessage {
    /// The message as XML.
    pub fn to_xml(&self) -> String {
        let mut w = Writer { out: String::with_capacity(1024) };
        w.open("AuditMessage", &[]);
        let e = &self.event;
        let time = rfc3339_utc(e.time);
        let mut attrs: Vec<(&str, &str)> = Vec::new();
        if let Some(action) = e.action {
            attrs.push(("EventActionCode", action.as_str()));
        }
        attrs.push(("EventDateTime", &time));
        attrs.push(("EventOutcomeIndicator", e.outcome.as_str()));
        w.open("EventIdentification", &attrs);
        w.code("EventID", &e.id);
        for t in &e.types {
            w.code("EventTypeCode", t);
        }
        if let Some(d) = &e.outcome_description {
            w.text_element("EventOutcomeDescription", &[], d);
        }
        w.close("EventIdentification");
        for p in &self.participants {
            w.participant(p);
        }
        let mut attrs: Vec<(&str, &str)> = vec![("AuditSourceID", &self.source.id)];
        if let Some(site) = &self.source.enterprise_site {
            attrs.push(("AuditEnterpriseSiteID", site));
        }
        if self.source.types.is_empty() {
            w.empty("AuditSourceIdentification", &attrs);
        } else {
            w.open("AuditSourceIdentification", &attrs);
            for t in &self.source.types {
                w.empty("AuditSourceTypeCode", &[("csd-code", &t.to_string())]);
            }
            w.close("AuditSourceIdentification");
        }
        for o in &self.objects {
            w.object(o);
        }
        w.close("AuditMessage");
        w.out
    }
}

struct Writer {
    out: String,
}

impl Writer {
    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push_str("/>");
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn text_element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(name, attrs);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    fn code(&mut self, name: &str, code: &Code) {
        self.empty(
            name,
            &[("csd-code", &code.code), ("codeSystemName", &code.system), ("displayName", &code.meaning), ("originalText", &code.meaning)],
        );
    }

    fn participant(&mut self, p: &ActiveParticipant) {
        let network = p.network.as_ref().map(|n| (n.id(), n.type_code()));
        let mut attrs: Vec<(&str, &str)> = vec![("UserID", &p.user_id)];
        if let Some(alt) = &p.alternative_user_id {
            attrs.push(("AlternativeUserID", alt));
        }
        if let Some(name) = &p.user_name {
            attrs.push(("UserName", name));
        }
        attrs.push(("UserIsRequestor", if p.requestor { "true" } else { "false" }));
        if let Some((id, type_code)) = &network {
            attrs.push(("NetworkAccessPointID", id));
            attrs.push(("NetworkAccessPointTypeCode", type_code));
        }
        if p.roles.is_empty() && p.media.is_none() {
            self.empty("ActiveParticipant", &attrs);
            return;
        }
        self.open("ActiveParticipant", &attrs);
        for r in &p.roles {
            self.code("RoleIDCode", r);
        }
        if let Some(media) = &p.media {
            self.open("MediaIdentifier", &[]);
            self.code("MediaType", media);
            self.close("MediaIdentifier");
        }
        self.close("ActiveParticipant");
    }

    fn object(&mut self, o: &ParticipantObject) {
        let role = o.role.map(|r| r.get().to_string());
        let life_cycle = o.life_cycle.filter(|l| (1..=15).contains(l)).map(|l| l.to_string());
        let mut attrs: Vec<(&str, &str)> = vec![("ParticipantObjectID", &o.id)];
        if let Some(t) = o.object_type {
            attrs.push(("ParticipantObjectTypeCode", t.as_str()));
        }
        if let Some(role) = &role {
            attrs.push(("ParticipantObjectTypeCodeRole", role));
        }
        if let Some(l) = &life_cycle {
            attrs.push(("ParticipantObjectDataLifeCycle", l));
        }
        if let Some(s) = &o.sensitivity {
            attrs.push(("ParticipantObjectSensitivity", s));
        }
        self.open("ParticipantObjectIdentification", &attrs);
        self.code("ParticipantObjectIDTypeCode", &o.id_type);
        match &o.name {
            ObjectName::Name(name) => self.text_element("ParticipantObjectName", &[], name),
            ObjectName::Query(query) => self.text_element("ParticipantObjectQuery", &[], &BASE64.encode(query)),
        }
        for (kind, value) in &o.details {
            self.empty("ParticipantObjectDetail", &[("type", kind), ("value", &BASE64.encode(value))]);
        }
        if let Some(d) = &o.description {
            self.description(d);
        }
        self.close("ParticipantObjectIdentification");
    }

    fn description(&mut self, d: &ObjectDescription) {
        self.open("ParticipantObjectDescription", &[]);
        for uid in &d.mpps {
            self.empty("MPPS", &[("UID", uid)]);
        }
        for number in &d.accessions {
            self.empty("Accession", &[("Number", number)]);
        }
        for class in &d.sop_classes {
            let count = class.instances.to_string();
            let attrs = [("UID", class.uid.as_str()), ("NumberOfInstances", count.as_str())];
            if class.instance_uids.is_empty() {
                self.empty("SOPClass", &attrs);
            } else {
                self.open("SOPClass", &attrs);
                for uid in &class.instance_uids {
                    self.empty("Instance", &[("UID", uid)]);
                }
                self.close("SOPClass");
            }
        }
        if !d.contains_studies.is_empty() {
            self.open("ParticipantObjectContainsStudy", &[]);
            for uid in &d.contains_studies {
                self.empty("StudyIDs", &[("UID", uid)]);
            }
            self.close("ParticipantObjectContainsStudy");
        }
        if let Some(e) = d.encrypted {
            self.text_element("Encrypted", &[], if e { "true" } else { "false" });
        }
        if let Some(a) = d.anonymized {
            self.text_element("Anonymized", &[], if a { "true" } else { "false" });
        }
        self.close("ParticipantObjectDescription");
    }
}

/// Appends `text` escaped for element content or a double-quoted
/// attribute value.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As references, so attribute normalisation keeps them, a bare
            // CR is not turned into LF, and the message stays on one line
            // (syslog receivers escape or split at raw control characters).
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    fn esc(s: &str) -> String {
        let mut out = String::new();
        escape_into(&mut out, s);
        out
    }

    #[test]
    fn markup_and_quotes_are_entities() {
        assert_eq!(esc(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
    }

    #[test]
    fn whitespace_is_referenced_so_it_survives_and_stays_on_one_line() {
        assert_eq!(esc("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
    }

    #[test]
    fn forbidden_characters_are_replaced_and_chinese_is_kept() {
        assert_eq!(esc("王\u{0}伟\u{1b}\u{FFFF}"), "王\u{FFFD}伟\u{FFFD}\u{FFFD}");
    }
}
