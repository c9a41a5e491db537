//! Parser tests: delimiters from MSH, escapes, character sets, bounds.

use super::*;

const A04: &str = "MSH|^~\\&|MPI|HOSP^1.2.3^ISO|YUNYING|REGION|20261206120000||ADT^A04^ADT_A01|MSG0001|P|2.5\r\
EVN|A04|20261206120000\r\
PID|1||P123^^^HOSP&1.2.3&ISO^PI~110101199001011234^^^CHN^NNCHN||Wang^Wei^^^^^L^A~王^伟^^^^^L^I||19900101|M\r";

fn parse(text: &str) -> Result<Message, ParseError> {
    Message::parse(text.as_bytes(), &ParseOptions::default())
}

#[test]
fn fields_repetitions_components_and_subcomponents_follow_hl7_numbering() {
    let m = parse(A04).unwrap();
    assert_eq!(m.delimiters(), &Delimiters::STANDARD);
    assert_eq!(m.segments().iter().map(Segment::id).collect::<Vec<_>>(), ["MSH", "EVN", "PID"]);
    assert_eq!(m.get("MSH", 1).raw(), "|");
    assert_eq!(m.get("MSH", 2).raw(), "^~\\&");
    assert_eq!(m.get("MSH", 3).value(), "MPI");
    assert_eq!(m.get("MSH", 4).first().value(2), "1.2.3");
    assert_eq!(m.get("MSH", 10).value(), "MSG0001");
    let ids: Vec<_> = m.get("PID", 3).repetitions().collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0].value(1), "P123");
    assert_eq!(ids[0].component(4).sub(2), "1.2.3");
    assert_eq!(ids[1].value(5), "NNCHN");
    let names: Vec<_> = m.get("PID", 5).repetitions().map(|r| (r.value(1), r.value(2), r.value(8))).collect();
    assert_eq!(names, [("Wang".into(), "Wei".into(), "A".into()), ("王".into(), "伟".into(), "I".into())]);
    assert!(m.get("PID", 30).is_empty());
    assert!(m.get("ZZZ", 1).is_empty());
}

#[test]
fn lf_and_crlf_segment_ends_are_tolerated() {
    for end in ["\n", "\r\n"] {
        let m = parse(&A04.replace('\r', end)).unwrap();
        assert_eq!(m.segments().len(), 3);
        assert_eq!(m.get("PID", 7).value(), "19900101");
    }
}

#[test]
fn custom_encoding_characters_are_taken_from_msh() {
    let text = "MSH!@*$%!MPI!HOSP!!!!!ADT@A08!C1!P!2.4\rPID!1!!A1@@@H1%X%ISO*A2!!Li@Na$S$x$F$y\r";
    let m = parse(text).unwrap();
    let d = m.delimiters();
    assert_eq!((d.field, d.component, d.repetition, d.escape, d.subcomponent), ('!', '@', Some('*'), Some('$'), Some('%')));
    assert_eq!(d.msh2(), "@*$%");
    assert_eq!(m.get("MSH", 9).first().value(2), "A08");
    let ids: Vec<_> = m.get("PID", 3).repetitions().map(|r| r.value(1)).collect();
    assert_eq!(ids, ["A1", "A2"]);
    assert_eq!(m.get("PID", 3).first().component(4).sub(2), "X");
    // `|`, `^`, `~` and `\` are plain text under these delimiters.
    assert_eq!(m.get("PID", 5).first().value(2), "Na@x!y");
}

#[test]
fn escapes_are_decoded_after_splitting() {
    let text = "MSH|^~\\&|A|B|||||C2|P|2.5\rPID|1||ID\\F\\1\\S\\2^^^AUTH||O\\T\\Brien\\R\\x^Jo\\E\\hn\r";
    let m = parse(text).unwrap();
    let id = m.get("PID", 3).first();
    assert_eq!(id.value(1), "ID|1^2");
    assert_eq!(id.value(4), "AUTH");
    let name = m.get("PID", 5);
    assert_eq!(name.repetitions().count(), 1);
    assert_eq!(name.first().value(1), "O&Brien~x");
    assert_eq!(name.first().value(2), "Jo\\hn");
}

#[test]
fn gb18030_message_is_decoded_before_it_is_split() {
    // 億 is 0x83 0x7C and 乗 0x81 0x5C in GB 18030: a `|` and a `\` byte.
    let text = "MSH|^~\\&|MPI|医院|||||ADT^A04|C3|P|2.5|||||CHN|GB 18030-2000\rPID|1||P9^^^医院^PI||王^億乗^^^^^L^I~Wang^Yicheng^^^^^L^A\r";
    let bytes = Charset::Gb18030.encode(text);
    assert!(bytes.contains(&0x7C) && bytes.windows(2).any(|w| w == [0x83, 0x7C]));
    let m = Message::parse(&bytes, &ParseOptions::default()).unwrap();
    assert_eq!(m.charset(), Charset::Gb18030);
    assert_eq!(m.get("MSH", 4).value(), "医院");
    let first = m.get("PID", 5).first();
    assert_eq!((first.value(1), first.value(2)), ("王".to_string(), "億乗".to_string()));
    assert_eq!(m.get("PID", 3).first().value(4), "医院");
}

#[test]
fn undeclared_charset_uses_the_configured_default() {
    let text = "MSH|^~\\&|MPI|H|||||ADT^A04|C4|P|2.5\rPID|1||P1||张^三\r";
    let bytes = Charset::Gb18030.encode(text);
    assert_eq!(Message::parse(&bytes, &ParseOptions::default()).unwrap_err(), ParseError::Undecodable { charset: "UNICODE UTF-8" });
    let options = ParseOptions { default_charset: Charset::Gb18030, ..Default::default() };
    assert_eq!(Message::parse(&bytes, &options).unwrap().get("PID", 5).first().value(1), "张");
}

#[test]
fn unsupported_charset_and_malformed_bytes_are_typed_errors() {
    let text = "MSH|^~\\&|MPI|H|||||ADT^A04|C5|P|2.5|||||CHN|ISO IR87\r";
    assert_eq!(parse(text).unwrap_err(), ParseError::UnsupportedCharset("ISO IR87".into()));
    let mut bytes = b"MSH|^~\\&|MPI|H|||||ADT^A04|C6|P|2.5|||||CHN|UNICODE UTF-8\rPID|1||".to_vec();
    bytes.extend_from_slice(&[0xC3, 0x28]);
    assert!(matches!(Message::parse(&bytes, &ParseOptions::default()), Err(ParseError::Undecodable { .. })));
}

#[test]
fn a_message_without_msh_or_with_bad_delimiters_is_refused() {
    assert_eq!(parse("").unwrap_err(), ParseError::NoHeader);
    assert_eq!(parse("PID|1||X\r").unwrap_err(), ParseError::NoHeader);
    assert_eq!(parse("MSH|^^\\&|A\r").unwrap_err(), ParseError::BadEncodingCharacters);
    assert_eq!(parse("MSHA^~\\&A\r").unwrap_err(), ParseError::BadEncodingCharacters);
    assert_eq!(parse("MSH||A\r").unwrap_err(), ParseError::BadEncodingCharacters);
    assert_eq!(parse("MSH|§~\\&|A\r").unwrap_err(), ParseError::BadEncodingCharacters);
    assert_eq!(parse("MSH|^~ &|A\r").unwrap_err(), ParseError::BadEncodingCharacters);
    assert_eq!(parse("MSH|^~\\&|A\rpid|1\r").unwrap_err(), ParseError::BadSegmentId { position: 2 });
}

#[test]
fn oversize_messages_are_refused_before_any_work() {
    let limits = Limits { max_message_bytes: 64, ..Default::default() };
    let options = ParseOptions { limits, ..Default::default() };
    // Not even HL7: the size is checked first.
    assert_eq!(Message::parse(&[0xFF; 65], &options).unwrap_err(), ParseError::TooLarge { size: 65, limit: 64 });
    assert!(Message::parse(&A04.as_bytes()[..64], &options).is_ok());
}

#[test]
fn segment_field_and_repetition_counts_are_bounded() {
    let small = Limits { max_segments: 3, max_fields: 16, max_repetitions: 2, ..Default::default() };
    let options = ParseOptions { limits: small, ..Default::default() };
    let parse = |text: &str| Message::parse(text.as_bytes(), &options);
    assert!(parse(A04.split_inclusive('\r').take(3).collect::<String>().as_str()).is_ok());
    assert_eq!(parse(&format!("{A04}ZPI|1\r")).unwrap_err(), ParseError::TooManySegments { limit: 3 });
    let head = "MSH|^~\\&|A|B|||||ADT^A04|C|P|2.5\r";
    assert!(parse(&format!("{head}ZPI{}\r", "|x".repeat(16))).is_ok());
    let err = parse(&format!("{head}ZPI{}\r", "|x".repeat(17))).unwrap_err();
    assert_eq!(err, ParseError::TooManyFields { segment: "ZPI".into(), limit: 16 });
    assert!(parse(&format!("{head}PID|1||a~b\r")).is_ok());
    let err = parse(&format!("{head}PID|1||a~b~c\r")).unwrap_err();
    assert_eq!(err, ParseError::TooManyRepetitions { segment: "PID".into(), field: 3, limit: 2 });
}

#[test]
fn the_header_of_an_unreadable_message_can_still_be_read_for_its_ack() {
    let mut bytes = b"MSH|^~\\&|MPI|H|||||ADT^A04|C7|P|2.5|||||CHN|UNICODE UTF-8\rPID|1||".to_vec();
    bytes.extend_from_slice(&[0xFF, 0xFE, b'\r']);
    let options = ParseOptions::default();
    assert!(Message::parse(&bytes, &options).is_err());
    let header = Message::parse_header(&bytes, &options).unwrap();
    assert_eq!(header.segments().len(), 1);
    assert_eq!(header.get("MSH", 10).value(), "C7");
    assert!(Message::parse_header(b"PID|1\r", &options).is_none());
}
