//! What an operations team reads: JSON logs, the access log (one line per
//! HTTP request and per DIMSE operation, no identifiers from the request),
//! `/metrics` families, a `YUNYING_LOG` that cannot silence by mistake, and
//! OpenTelemetry traces (`[tracing]`) received by a small OTLP/HTTP
//! receiver in the test.

use std::process::Command;

use crate::harness::*;

/// The access log's lines (target `yunying::access`) among JSON log lines,
/// failing on any line that is not JSON.
fn access_lines(log: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        if v["target"] == "yunying::access" {
            out.push(v["fields"].clone());
        }
    }
    out
}

#[test]
fn json_logs_parse_line_by_line_and_the_access_log_has_one_line_per_request_and_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let series = tmp.path().join("ct");
    gen_ct(&series, 2, 32, 71);
    register_ae(&data, "OBS_SCU", 104, Some("store"));
    let log = tmp.path().join("yunying.log");
    let mut server = Server::start_with_log(&data, Some("[log]\nformat = \"json\"\n"), Some(&log));
    let (status, _) = http_get(server.http_port, "/dicom-web/studies?PatientID=SECRETPID42").unwrap();
    assert!(status == 200 || status == 401, "{status}");
    let (status, _) = http_get(server.http_port, "/no/such/page").unwrap();
    assert_eq!(status, 404);
    run(dcmtk("echoscu").args(["-aet", "OBS_SCU", "-aec", "YUNYING", "127.0.0.1", &server.dicom_port.to_string()]));
    storescu_dir(server.dicom_port, "OBS_SCU", &series);
    let (_, metrics) = http_get(server.http_port, "/metrics").unwrap();
    assert!(server.stop().success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("SECRETPID42"), "a query's values never reach the log");
    let lines = access_lines(&text);
    let http = |route: &str| lines.iter().filter(|f| f["face"] == "http" && f["route"] == route).cloned().collect::<Vec<_>>();
    let studies = http("/dicom-web/studies");
    assert_eq!(studies.len(), 1, "{lines:?}");
    assert_eq!(studies[0]["method"], "GET");
    assert!(studies[0]["ms"].as_f64().is_some() && studies[0]["client"] == "127.0.0.1", "{:?}", studies[0]);
    let unmatched = http("(unmatched)");
    assert_eq!(unmatched.len(), 1, "{lines:?}");
    assert_eq!(unmatched[0]["status"], 404);
    let dimse = |op: &str| lines.iter().filter(|f| f["face"] == "dimse" && f["operation"] == op).cloned().collect::<Vec<_>>();
    assert_eq!(dimse("C-ECHO").len(), 1, "{lines:?}");
    let stores = dimse("C-STORE");
    assert_eq!(stores.len(), 2, "{lines:?}");
    assert!(stores.iter().all(|f| f["status"] == "0000" && f["who"] == "ae:OBS_SCU"), "{stores:?}");

    assert!(metrics.contains("yunying_dimse_operations_total{operation=\"C-STORE\",status=\"0000\"} 2\n"), "{metrics}");
    assert!(metrics.contains("yunying_dimse_operation_duration_seconds_count{operation=\"C-ECHO\"} 1\n"), "{metrics}");
    assert!(metrics.contains("yunying_http_requests_total{route=\"(unmatched)\",method=\"GET\",status=\"404\"} 1\n"), "{metrics}");
    assert!(metrics.contains("yunying_http_request_duration_seconds_bucket{route=\"/dicom-web/studies\",method=\"GET\",le=\"+Inf\"} 1\n"));
    assert!(metrics.contains("yunying_index_instances 2\n"), "{metrics}");
    assert!(metrics.contains("yunying_build_info{version=") && metrics.contains("\nprocess_resident_memory_bytes "), "{metrics}");
}

#[test]
fn a_yunying_log_that_names_only_a_module_does_not_silence_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    // `verbose` reads as a module name: before, everything else went quiet.
    let out = Command::new(BIN)
        .args(["--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["serve", "--dicom-port", "0", "--http-port", "0", "--aet", "OBSLOG"])
        .env("YUNYING_LOG", "verbose")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = out.id();
    let serving = tmp.path().join("data/serving.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !serving.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    let out = out.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Yunying is serving"), "the INFO start line is still there: {stderr}");
}

/// A tiny OTLP/HTTP receiver on loopback: every `POST /v1/traces` body
/// (JSON) it was sent, answered 200; and how many connections it took.
struct OtlpReceiver {
    port: u16,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl OtlpReceiver {
    fn start() -> OtlpReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (kept, counted) = (bodies.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let kept = kept.clone();
                std::thread::spawn(move || serve_otlp(stream, &kept));
            }
        });
        OtlpReceiver { port, bodies, connections }
    }

    /// The spans received so far, with their resource's `service.name`.
    fn spans(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for body in self.bodies.lock().unwrap().iter() {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("OTLP body is not JSON ({e}): {body}"));
            for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                let service = attribute(&rs["resource"], "service.name").unwrap_or_default();
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    out.extend(ss["spans"].as_array().into_iter().flatten().map(|s| (service.clone(), s.clone())));
                }
            }
        }
        out
    }

    fn text(&self) -> String {
        self.bodies.lock().unwrap().join("\n")
    }
}

/// One connection: requests with a Content-Length body, kept alive.
fn serve_otlp(mut stream: std::net::TcpStream, kept: &std::sync::Mutex<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let length: usize = head
            .iter()
            .find_map(|h| {
                h.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("an OTLP request without Content-Length: {head:?}"));
        assert!(length < 16 << 20, "{length}");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        assert!(head[0].starts_with("POST /v1/traces "), "{head:?}");
        assert!(head.iter().any(|h| h.eq_ignore_ascii_case("content-type: application/json")), "{head:?}");
        kept.lock().unwrap().push(String::from_utf8(body).unwrap());
        let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A string or integer attribute of an OTLP span or resource, as text.
fn attribute(item: &serde_json::Value, key: &str) -> Option<String> {
    let value = &item["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"];
    value["stringValue"].as_str().map(str::to_string).or_else(|| value["intValue"].as_str().map(str::to_string)).or_else(|| {
        let n = &value["intValue"];
        n.as_i64().map(|n| n.to_string())
    })
}

fn tag_text(file: &std::path::Path, tag: dicom_core::Tag) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(tag).unwrap().to_str().unwrap().trim_end_matches(['\0', ' ']).to_string()
}

/// The one span of `trace` named `name` (or whose `http.route` is `name`).
fn span_in<'a>(spans: &'a [serde_json::Value], trace: &str, name: &str) -> &'a serde_json::Value {
    let found: Vec<&serde_json::Value> = spans
        .iter()
        .filter(|s| s["traceId"] == trace && (s["name"] == name || attribute(s, "http.route").as_deref() == Some(name)))
        .collect();
    assert_eq!(found.len(), 1, "one {name} in trace {trace}: {spans:#?}");
    found[0]
}

#[test]
fn a_request_is_one_trace_from_http_through_the_archive_to_the_store_exported_over_otlp() {
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (stowed, stored) = (tmp.path().join("stow"), tmp.path().join("cstore"));
    let (name, pid) = ("Zhuizong^Mimi=追踪^秘密", "TRACEPID4711");
    gen_ct_with(&stowed, 1, 32, 81, &["--patient-name", name, "--patient-id", pid]);
    gen_ct_with(&stored, 1, 32, 82, &["--patient-name", name, "--patient-id", pid]);
    let file = files_under(&stowed).remove(0);
    let (study, series, sop) =
        (tag_text(&file, tags::STUDY_INSTANCE_UID), tag_text(&file, tags::SERIES_INSTANCE_UID), tag_text(&file, tags::SOP_INSTANCE_UID));
    let receiver = OtlpReceiver::start();
    let config = format!("[tracing]\notlp_endpoint = \"http://127.0.0.1:{}\"\nservice_name = \"yunying-it\"\n", receiver.port);
    let mut server = Server::start(&data, Some(&config));

    // A trace begun elsewhere (nginx, a client) goes on in Yunying.
    let (stow_trace, stow_parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{stow_trace}-{stow_parent}-01");
    let (status, body) = stow_file(server.http_port, &file, &[("traceparent", &traceparent)]);
    assert_eq!(status, 200, "{body}");
    let (wado_trace, wado_parent) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let request = format!(
        "GET /dicom-web/studies/{study}/series/{series}/instances/{sop} HTTP/1.0\r\nHost: 127.0.0.1\r\n\
         Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\ntraceparent: 00-{wado_trace}-{wado_parent}-01\r\n\r\n"
    );
    let (response, closed) = http_exchange(server.http_port, request.as_bytes(), std::time::Duration::from_secs(30));
    assert!(closed && http_status(&response) == Some(200), "{}", String::from_utf8_lossy(&response[..response.len().min(300)]));
    storescu_dir(server.dicom_port, "TRACE_SCU", &stored);

    // Exported in batches: every few seconds while serving.
    let wanted = |spans: &[(String, serde_json::Value)]| {
        let has = |trace: &str, name: &str| spans.iter().any(|(_, s)| s["traceId"] == trace && s["name"] == name);
        has(stow_trace, "store.put")
            && has(wado_trace, "store.get_range")
            && spans.iter().any(|(_, s)| s["name"] == "C-STORE")
            && spans.iter().any(|(_, s)| s["name"] == "POST /dicom-web/studies")
            && spans.iter().any(|(_, s)| s["name"] == "GET /dicom-web/studies/{study}/series/{series}/instances/{instance}")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !wanted(&receiver.spans()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let received = receiver.spans();
    assert!(wanted(&received), "spans did not arrive within 30 s: {received:#?}");
    assert!(received.iter().all(|(service, _)| service == "yunying-it"), "{received:#?}");
    let spans: Vec<serde_json::Value> = received.into_iter().map(|(_, s)| s).collect();

    // STOW-RS: the request's span is the child of the caller's, the
    // archive's of the request's, the store's of the archive's.
    let http = span_in(&spans, stow_trace, "/dicom-web/studies");
    assert_eq!(http["parentSpanId"], stow_parent, "{http:#}");
    assert_eq!(http["name"], "POST /dicom-web/studies");
    assert_eq!(attribute(http, "http.response.status_code").as_deref(), Some("200"), "{http:#}");
    assert_eq!(attribute(http, "http.request.method").as_deref(), Some("POST"), "{http:#}");
    let archive = span_in(&spans, stow_trace, "archive.store_instance");
    assert_eq!(archive["parentSpanId"], http["spanId"], "{archive:#}");
    assert_eq!(attribute(archive, "source").as_deref(), Some("stow"), "{archive:#}");
    let put = span_in(&spans, stow_trace, "store.put");
    assert_eq!(put["parentSpanId"], archive["spanId"], "{put:#}");
    assert!(attribute(put, "store.bytes").unwrap().parse::<u64>().unwrap() > 32 * 32 * 2, "{put:#}");
    let insert = span_in(&spans, stow_trace, "index.insert");
    assert_eq!(insert["parentSpanId"], archive["spanId"], "{insert:#}");

    // WADO-RS: the body is streamed by a task of its own, in the same trace.
    let http = span_in(&spans, wado_trace, "/dicom-web/studies/{study}/series/{series}/instances/{instance}");
    assert_eq!(http["parentSpanId"], wado_parent, "{http:#}");
    let query = span_in(&spans, wado_trace, "index.instances");
    assert_eq!(query["parentSpanId"], http["spanId"], "{query:#}");
    let retrieve = span_in(&spans, wado_trace, "archive.retrieve");
    assert_eq!(retrieve["parentSpanId"], http["spanId"], "{retrieve:#}");
    let read = span_in(&spans, wado_trace, "store.get_range");
    assert_eq!(read["parentSpanId"], retrieve["spanId"], "{read:#}");

    // C-STORE: a trace of its own, rooted in the DIMSE operation.
    let operation = spans.iter().find(|s| s["name"] == "C-STORE").unwrap();
    let trace = operation["traceId"].as_str().unwrap();
    assert!(operation["parentSpanId"].as_str().unwrap_or_default().is_empty(), "{operation:#}");
    assert_eq!(attribute(operation, "dimse.calling_ae").as_deref(), Some("TRACE_SCU"), "{operation:#}");
    assert_eq!(attribute(operation, "dimse.status").as_deref(), Some("0000"), "{operation:#}");
    let archive = span_in(&spans, trace, "archive.store_instance");
    assert_eq!(archive["parentSpanId"], operation["spanId"], "{archive:#}");
    assert_eq!(span_in(&spans, trace, "store.put")["parentSpanId"], archive["spanId"]);

    // Nothing that identifies the patient or the examination.
    let text = receiver.text();
    for secret in
        [pid, "Zhuizong", "Mimi", "追踪", "秘密", &study, &series, &sop, &tag_text(&files_under(&stored)[0], tags::SOP_INSTANCE_UID)]
    {
        assert!(!text.contains(secret), "{secret} was exported");
    }
    assert!(server.stop().success());
}

#[test]
fn without_a_tracing_section_nothing_is_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let series = tmp.path().join("ct");
    gen_ct(&series, 1, 32, 83);
    let receiver = OtlpReceiver::start();
    // Even the standard OpenTelemetry variables do not turn it on.
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let log = tmp.path().join("yunying.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--dicom-port", "0", "--http-port", "0", "--dicom-tls-port", "0", "--aet", "NOTRACE"])
        .env("YUNYING_LOG", "debug")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("{endpoint}/v1/traces"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let serving = data.join("serving.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !serving.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ports: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&serving).unwrap()).unwrap();
    let http_port = ports["http_port"].as_u64().unwrap() as u16;
    let file = files_under(&series).remove(0);
    let (status, body) = stow_file(http_port, &file, &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]);
    assert!(status == 200 || status == 401, "{status} {body}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Yunying is serving") && text.contains("stopped"), "{text}");
    assert!(!text.contains("exporting traces") && !text.contains("opentelemetry"), "no exporter starts: {text}");
    assert_eq!(receiver.connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing is sent");
}

/// The value of one series (`name{labels}`) in `/metrics` text; 0 when absent.
fn sample(metrics: &str, series: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok()).map_or(0, |v| v as u64)
}

#[test]
fn metrics_count_body_bytes_errors_by_reason_and_dimse_data_set_bytes() {
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (stowed, stored) = (tmp.path().join("stow"), tmp.path().join("cstore"));
    gen_ct(&stowed, 1, 32, 91);
    gen_ct(&stored, 2, 32, 92);
    register_ae(&data, "GETSCU", 104, Some("get"));
    let mut server = Server::start(&data, None);
    let port = server.http_port;
    let metrics = || http_get(port, "/metrics").unwrap().1;
    let before = metrics();
    const INSTANCE: &str = "/dicom-web/studies/{study}/series/{series}/instances/{instance}";
    let grew = |after: &str, series: &str| sample(after, series) - sample(&before, series);

    // STOW-RS: the request body is read whole.
    let file = files_under(&stowed).remove(0);
    let upload = std::fs::metadata(&file).unwrap().len();
    let (status, body) = stow_file(port, &file, &[]);
    assert_eq!(status, 200, "{body}");
    // WADO-RS: the instance's multipart body, streamed.
    let (study, series, sop) =
        (tag_text(&file, tags::STUDY_INSTANCE_UID), tag_text(&file, tags::SERIES_INSTANCE_UID), tag_text(&file, tags::SOP_INSTANCE_UID));
    let request = format!(
        "GET /dicom-web/studies/{study}/series/{series}/instances/{sop} HTTP/1.0\r\nHost: 127.0.0.1\r\n\
         Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\n\r\n"
    );
    let (response, closed) = http_exchange(port, request.as_bytes(), std::time::Duration::from_secs(30));
    assert!(closed && http_status(&response) == Some(200), "{}", String::from_utf8_lossy(&response[..response.len().min(300)]));
    let head = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body_len = (response.len() - head) as u64;
    assert!(body_len > upload / 2, "{body_len}");
    // An instance that is not there: an error by reason, never by UID.
    let (status, _) = http_get(port, &format!("/dicom-web/studies/{study}/series/{series}/instances/1.2.3.4.5.404")).unwrap();
    assert_eq!(status, 404);
    // C-STORE in, C-GET out.
    storescu_dir(server.dicom_port, "OBS_BYTES", &stored);
    c_get_study(server.dicom_port, &tmp.path().join("got"), &tag_text(&files_under(&stored)[0], tags::STUDY_INSTANCE_UID));
    let after = metrics();
    assert!(server.stop().success());

    // The STOW-RS body: the file and the multipart framing around it.
    let read = grew(&after, "yunying_http_request_bytes_total{route=\"/dicom-web/studies\",method=\"POST\"}");
    assert!(read >= upload && read <= upload + 64, "{read} bytes read for a {upload}-byte upload:\n{after}");
    let sent = grew(&after, &format!("yunying_http_response_bytes_total{{route=\"{INSTANCE}\",method=\"GET\"}}"));
    assert!(sent >= body_len, "{sent} bytes counted, {body_len} received:\n{after}");
    assert_eq!(grew(&after, &format!("yunying_http_errors_total{{route=\"{INSTANCE}\",reason=\"not_found\"}}")), 1, "{after}");
    assert!(!after.contains("1.2.3.4.5.404") && !after.contains(&sop), "no UID in a label");

    // Two 32×32 16-bit slices each way, at least; no more than the files.
    let pixels = 2 * 32 * 32 * 2;
    let files: u64 = files_under(&stored).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    let received = grew(&after, "yunying_dimse_bytes_total{operation=\"C-STORE\",direction=\"received\"}");
    assert!(received >= pixels && received <= files, "{received} data set bytes received ({files} bytes of files):\n{after}");
    let sent = grew(&after, "yunying_dimse_bytes_total{operation=\"C-GET\",direction=\"sent\"}");
    assert!(sent >= pixels, "{sent} data set bytes sent by C-GET:\n{after}");
    assert!(grew(&after, "yunying_dimse_bytes_total{operation=\"C-GET\",direction=\"received\"}") > 0, "the identifier:\n{after}");
}
