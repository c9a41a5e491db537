//! Process metrics in Prometheus' standard names (`process_*`, read from
//! `/proc/self` on Linux; absent elsewhere) and `yunying_build_info`.

use std::fmt::Write;

/// The families, as Prometheus text.
pub(crate) fn render() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP yunying_build_info The running build\n# TYPE yunying_build_info gauge\nyunying_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let mut gauge = |name: &str, help: &str, kind: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    if let Some(stat) = read_stat() {
        gauge("process_cpu_seconds_total", "User and system CPU time spent", "counter", stat.cpu_seconds);
        gauge("process_resident_memory_bytes", "Resident memory size", "gauge", stat.resident_bytes);
        gauge("process_virtual_memory_bytes", "Virtual memory size", "gauge", stat.virtual_bytes);
        gauge("process_start_time_seconds", "Start time since the Unix epoch", "gauge", stat.start_time_seconds);
        gauge("process_threads", "Threads", "gauge", stat.threads);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge("process_open_fds", "Open file descriptors", "gauge", fds.count() as f64);
    }
    if let Some(max) = max_fds() {
        gauge("process_max_fds", "Maximum open file descriptors", "gauge", max);
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let tasks = runtime.metrics().num_alive_tasks() as f64;
        gauge("yunying_runtime_tasks", "Tasks alive on the async runtime (connections, associations, background work)", "gauge", tasks);
    }
    out
}

struct Stat {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    threads: f64,
}

/// `/proc/self/stat` (proc(5)), with the clock tick and page size of
/// Linux on every platform Yunying ships for (100 Hz, 4 KiB).
fn read_stat() -> Option<Stat> {
    const TICKS: f64 = 100.0;
    const PAGE: f64 = 4096.0;
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok()))?;
    Some(Stat {
        cpu_seconds: (num(14)? + num(15)?) / TICKS,
        threads: num(20)?,
        start_time_seconds: boot + num(22)? / TICKS,
        virtual_bytes: num(23)?,
        resident_bytes: num(24)? * PAGE,
    })
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runtime_tasks_are_counted() {
        let text = super::render();
        assert!(text.lines().any(|l| l.starts_with("yunying_runtime_tasks ")), "{text}");
    }

    #[test]
    fn this_process_is_described() {
        let text = super::render();
        assert!(text.contains(&format!("yunying_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
        if cfg!(target_os = "linux") {
            let value = |name: &str| -> f64 {
                let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
                line.split_whitespace().nth(1).unwrap().parse().unwrap()
            };
            assert!(value("process_resident_memory_bytes") > 1e6, "{text}");
            assert!(value("process_open_fds") >= 3.0);
            assert!(value("process_threads") >= 1.0);
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            let start = value("process_start_time_seconds");
            assert!(start <= now + 1.0 && start > now - 86_400.0, "started {start}, now {now}");
        }
    }
}
