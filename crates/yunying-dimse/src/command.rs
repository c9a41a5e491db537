//! DIMSE command sets (PS3.7): group 0000, always implicit VR little endian.

use std::collections::BTreeMap;

pub const C_STORE_RQ: u16 = 0x0001;
pub const C_GET_RQ: u16 = 0x0010;
pub const C_FIND_RQ: u16 = 0x0020;
pub const C_MOVE_RQ: u16 = 0x0021;
pub const C_ECHO_RQ: u16 = 0x0030;
pub const N_EVENT_REPORT_RQ: u16 = 0x0100;
pub const N_ACTION_RQ: u16 = 0x0130;
pub const C_CANCEL_RQ: u16 = 0x0FFF;
/// The response bit of a command field.
pub const RESPONSE: u16 = 0x8000;
pub const NO_DATA_SET: u16 = 0x0101;
/// Any value other than [`NO_DATA_SET`] says a data set follows.
pub const DATA_SET_PRESENT: u16 = 0x0000;

pub const AFFECTED_SOP_CLASS_UID: u16 = 0x0002;
pub const REQUESTED_SOP_CLASS_UID: u16 = 0x0003;
pub const COMMAND_FIELD: u16 = 0x0100;
pub const MESSAGE_ID: u16 = 0x0110;
pub const MESSAGE_ID_BEING_RESPONDED_TO: u16 = 0x0120;
pub const MOVE_DESTINATION: u16 = 0x0600;
pub const PRIORITY: u16 = 0x0700;
pub const COMMAND_DATA_SET_TYPE: u16 = 0x0800;
pub const STATUS: u16 = 0x0900;
pub const ERROR_COMMENT: u16 = 0x0902;
pub const AFFECTED_SOP_INSTANCE_UID: u16 = 0x1000;
pub const REQUESTED_SOP_INSTANCE_UID: u16 = 0x1001;
pub const EVENT_TYPE_ID: u16 = 0x1002;
pub const ACTION_TYPE_ID: u16 = 0x1008;
pub const REMAINING_SUBOPERATIONS: u16 = 0x1020;
pub const COMPLETED_SUBOPERATIONS: u16 = 0x1021;
pub const FAILED_SUBOPERATIONS: u16 = 0x1022;
pub const WARNING_SUBOPERATIONS: u16 = 0x1023;
pub const MOVE_ORIGINATOR_AE_TITLE: u16 = 0x1030;
pub const MOVE_ORIGINATOR_MESSAGE_ID: u16 = 0x1031;

/// A decoded command set: element number → raw value.
#[derive(Debug, Default, Clone)]
pub struct Command {
    elements: BTreeMap<u16, Vec<u8>>,
}

impl Command {
    /// Decode a command set; `None` if it is not well formed.
    pub fn decode(mut bytes: &[u8]) -> Option<Command> {
        let mut elements = BTreeMap::new();
        while !bytes.is_empty() {
            if bytes.len() < 8 {
                return None;
            }
            let group = u16::from_le_bytes([bytes[0], bytes[1]]);
            let elem = u16::from_le_bytes([bytes[2], bytes[3]]);
            let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
            if group != 0 || len > bytes.len() - 8 {
                return None;
            }
            elements.insert(elem, bytes[8..8 + len].to_vec());
            bytes = &bytes[8 + len..];
        }
        Some(Command { elements })
    }

    pub fn command_field(&self) -> Option<u16> {
        self.us(COMMAND_FIELD)
    }
    pub fn message_id(&self) -> u16 {
        self.us(MESSAGE_ID).unwrap_or(0)
    }
    pub fn has_data_set(&self) -> bool {
        self.us(COMMAND_DATA_SET_TYPE).is_some_and(|t| t != NO_DATA_SET)
    }
    pub fn affected_sop_class_uid(&self) -> String {
        self.uid(AFFECTED_SOP_CLASS_UID)
    }
    pub fn affected_sop_instance_uid(&self) -> String {
        self.uid(AFFECTED_SOP_INSTANCE_UID)
    }
    pub fn requested_sop_class_uid(&self) -> String {
        self.uid(REQUESTED_SOP_CLASS_UID)
    }
    pub fn requested_sop_instance_uid(&self) -> String {
        self.uid(REQUESTED_SOP_INSTANCE_UID)
    }
    pub fn message_id_being_responded_to(&self) -> Option<u16> {
        self.us(MESSAGE_ID_BEING_RESPONDED_TO)
    }
    pub fn status(&self) -> Option<u16> {
        self.us(STATUS)
    }
    /// Move Destination (an AE title, trimmed).
    pub fn move_destination(&self) -> String {
        self.uid(MOVE_DESTINATION).trim().to_string()
    }
    pub fn action_type_id(&self) -> Option<u16> {
        self.us(ACTION_TYPE_ID)
    }

    pub fn us(&self, elem: u16) -> Option<u16> {
        let v = self.elements.get(&elem)?;
        Some(u16::from_le_bytes(v.get(..2)?.try_into().ok()?))
    }

    fn uid(&self, elem: u16) -> String {
        let v = self.elements.get(&elem).map(Vec::as_slice).unwrap_or_default();
        String::from_utf8_lossy(v).trim_end_matches(['\0', ' ']).to_string()
    }
}

/// Encode a response command set with no data set.
pub struct Response<'a> {
    pub command_field: u16,
    pub message_id_being_responded_to: u16,
    pub status: u16,
    pub affected_sop_class_uid: &'a str,
    pub affected_sop_instance_uid: Option<&'a str>,
    pub error_comment: Option<&'a str>,
}

impl Response<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = CommandBuilder::new(self.command_field)
            .uid(AFFECTED_SOP_CLASS_UID, self.affected_sop_class_uid)
            .us(MESSAGE_ID_BEING_RESPONDED_TO, self.message_id_being_responded_to)
            .us(STATUS, self.status);
        if let Some(comment) = self.error_comment {
            b = b.text(ERROR_COMMENT, comment);
        }
        if let Some(uid) = self.affected_sop_instance_uid {
            b = b.uid(AFFECTED_SOP_INSTANCE_UID, uid);
        }
        b.encode()
    }
}

/// Build any command set: elements by number, encoded in order with the
/// group length first.
#[derive(Debug, Clone)]
pub struct CommandBuilder {
    elements: BTreeMap<u16, Vec<u8>>,
}

impl CommandBuilder {
    /// A command with no data set (call [`CommandBuilder::with_data_set`] to change that).
    pub fn new(command_field: u16) -> CommandBuilder {
        let mut elements = BTreeMap::new();
        elements.insert(COMMAND_FIELD, command_field.to_le_bytes().to_vec());
        elements.insert(COMMAND_DATA_SET_TYPE, NO_DATA_SET.to_le_bytes().to_vec());
        CommandBuilder { elements }
    }
    pub fn with_data_set(mut self) -> Self {
        self.elements.insert(COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT.to_le_bytes().to_vec());
        self
    }
    pub fn us(mut self, elem: u16, value: u16) -> Self {
        self.elements.insert(elem, value.to_le_bytes().to_vec());
        self
    }
    /// A UI value (padded with NUL).
    pub fn uid(mut self, elem: u16, value: &str) -> Self {
        self.elements.insert(elem, padded(value, 0));
        self
    }
    /// A text value such as AE or LO (padded with a space).
    pub fn text(mut self, elem: u16, value: &str) -> Self {
        self.elements.insert(elem, padded(value, b' '));
        self
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(192);
        for (elem, value) in &self.elements {
            put(&mut body, *elem, value);
        }
        let mut out = Vec::with_capacity(12 + body.len());
        put(&mut out, 0x0000, &(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }
}

fn put(out: &mut Vec<u8>, elem: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

fn padded(s: &str, pad: u8) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(pad);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_decodes_back() {
        let bytes = Response {
            command_field: 0x8001,
            message_id_being_responded_to: 7,
            status: 0xA900,
            affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2",
            affected_sop_instance_uid: Some("1.2.3"),
            error_comment: Some("bad"),
        }
        .encode();
        let cmd = Command::decode(&bytes).unwrap();
        assert_eq!(cmd.command_field(), Some(0x8001));
        assert_eq!(cmd.affected_sop_class_uid(), "1.2.840.10008.5.1.4.1.1.2");
        assert_eq!(cmd.affected_sop_instance_uid(), "1.2.3");
        assert!(!cmd.has_data_set());
        assert_eq!(cmd.us(STATUS), Some(0xA900));
    }

    #[test]
    fn garbage_commands_are_rejected() {
        assert!(Command::decode(&[1, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]).is_none()); // group 0001
        assert!(Command::decode(&[0, 0, 0, 1, 200, 0, 0, 0]).is_none()); // length past end
        assert!(Command::decode(&[0, 0, 0]).is_none());
    }
}
