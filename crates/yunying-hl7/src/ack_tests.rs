//! ACK tests: the ACK is read back with this crate's own parser.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::parse::{Message, ParseOptions};

fn request(text: &str) -> (Header, Delimiters) {
    let m = Message::parse(text.as_bytes(), &ParseOptions::default()).unwrap();
    (Header::from_message(&m), m.delimiters().clone())
}

fn read(ack: &str) -> Message {
    Message::parse(ack.as_bytes(), &ParseOptions::default()).unwrap()
}

const A04: &str =
    "MSH|^~\\&|MPI^1.2.3^ISO|HOSP|YUNYING|REGION|20261206120000||ADT^A04^ADT_A01|MSG01|P|2.5|||||CHN|UNICODE UTF-8\rPID|1||P1\r";

#[test]
fn aa_swaps_sender_and_receiver_and_echoes_control_id_version_and_charset() {
    let (header, d) = request(A04);
    let now = UNIX_EPOCH + Duration::from_secs(1_796_558_400); // 2026-12-06 12:00:00 UTC
    let ack = build(&header, &d, &AckDecision::Accept, &LocalNames::default(), now);
    assert!(ack.starts_with("MSH|^~\\&|YUNYING|REGION|MPI^1.2.3^ISO|HOSP|20261206120000+0000||ACK^A04^ACK|Y"), "{ack}");
    let m = read(&ack);
    assert_eq!(m.get("MSH", 11).value(), "P");
    assert_eq!(m.get("MSH", 12).value(), "2.5");
    assert_eq!(m.get("MSH", 18).value(), "UNICODE UTF-8");
    assert!(m.get("MSH", 10).value().len() <= 20);
    assert_eq!(m.get("MSA", 1).value(), "AA");
    assert_eq!(m.get("MSA", 2).value(), "MSG01");
    assert!(m.segment("ERR").is_none());
}

#[test]
fn ae_and_ar_carry_the_error_code_and_an_escaped_text() {
    let (header, d) = request(A04);
    let decision = AckDecision::Error { code: ErrorCode::UNKNOWN_KEY, text: "prior id | not ^ known".into() };
    let m = read(&build(&header, &d, &decision, &LocalNames::default(), SystemTime::now()));
    assert_eq!(m.get("MSA", 1).value(), "AE");
    assert_eq!(m.get("MSA", 3).value(), "prior id | not ^ known");
    let err = m.get("ERR", 3).first();
    assert_eq!((err.value(1), err.value(3)), ("204".to_string(), "HL70357".to_string()));
    assert_eq!(m.get("ERR", 4).value(), "E");
    assert_eq!(m.get("ERR", 8).value(), "prior id | not ^ known");
    let reject = AckDecision::from_error(&AdtError::UnsupportedEvent("A03".into()));
    let m = read(&build(&header, &d, &reject, &LocalNames::default(), SystemTime::now()));
    assert_eq!(m.get("MSA", 1).value(), "AR");
    assert_eq!(m.get("ERR", 3).value(), "201");
}

#[test]
fn versions_before_2_5_get_err_1_and_a_two_part_message_type() {
    let text = "MSH|^~\\&|MPI|HOSP|||20261206||ADT^A08|M2|T|2.3.1\rPID|1||P1\r";
    let (header, d) = request(text);
    let decision = AckDecision::from_error(&AdtError::MissingField("PID-3"));
    let ack = build(&header, &d, &decision, &LocalNames { application: "EMPI".into(), facility: "CLOUD".into() }, SystemTime::now());
    let m = read(&ack);
    assert_eq!(m.get("MSH", 3).value(), "EMPI", "our name when MSH-5 is empty");
    assert_eq!(m.get("MSH", 4).value(), "CLOUD");
    assert_eq!(m.get("MSH", 9).raw(), "ACK^A08");
    assert_eq!(m.get("MSH", 11).value(), "T");
    assert!(m.get("MSH", 18).is_empty());
    assert_eq!(m.get("MSA", 1).value(), "AE");
    let err = m.get("ERR", 1).first().component(4);
    assert_eq!((err.sub(1), err.sub(3)), ("101".to_string(), "HL70357".to_string()));
}

#[test]
fn the_request_delimiters_are_kept() {
    let text = "MSH!@*$%!MPI!HOSP!!!!!ADT@A40!M3!P!2.5\rPID!1!!P1\r";
    let (header, d) = request(text);
    let decision = AckDecision::Reject { code: ErrorCode::INTERNAL, text: "a!b@c".into() };
    let ack = build(&header, &d, &decision, &LocalNames::default(), SystemTime::now());
    assert!(ack.starts_with("MSH!@*$%!YUNYING!!MPI!HOSP!"), "{ack}");
    let m = read(&ack);
    assert_eq!(m.get("MSH", 9).raw(), "ACK@A40@ACK");
    assert_eq!(m.get("MSA", 2).value(), "M3");
    assert_eq!(m.get("MSA", 3).value(), "a!b@c");
}

#[test]
fn every_error_maps_to_ar_or_ae_with_a_text_free_of_values() {
    let cases = [
        (AdtError::UnsupportedMessageType("ORU".into()), AckCode::Reject, 200),
        (AdtError::UnsupportedVersion("3".into()), AckCode::Reject, 203),
        (AdtError::Parse(ParseError::UnsupportedCharset("ISO IR87".into())), AckCode::Reject, 103),
        (AdtError::Parse(ParseError::TooManySegments { limit: 5 }), AckCode::Reject, 207),
        (AdtError::Parse(ParseError::NoHeader), AckCode::Error, 100),
        (AdtError::Parse(ParseError::Undecodable { charset: "UNICODE UTF-8" }), AckCode::Error, 102),
        (AdtError::InvalidField("PID-7"), AckCode::Error, 102),
        (AdtError::MissingSegment("MRG"), AckCode::Error, 100),
    ];
    for (error, ack, number) in cases {
        let decision = AckDecision::from_error(&error);
        assert_eq!(decision.code(), ack, "{error}");
        let (AckDecision::Error { code, .. } | AckDecision::Reject { code, .. }) = decision else { panic!("accepted {error}") };
        assert_eq!(code.0, number, "{error}");
    }
}

#[test]
fn timestamps_are_utc_civil_dates() {
    assert_eq!(timestamp(UNIX_EPOCH), "19700101000000+0000");
    assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661)), "20000229010101+0000");
}
