//! The worker's health and metrics as the console reads them (`/healthz`, `/metrics` of the
//! worker's `[metrics] listen` address).

/// What `/healthz` said.
#[derive(Debug, Clone)]
pub enum Health {
    /// 200 `ok`.
    Up,
    /// Another status, with the worker's reason (503: database not answering, HSM failed).
    Down(u16, String),
    /// No answer (worker stopped, wrong URL, timeout).
    Unreachable(String),
    /// No URL configured.
    NotConfigured,
}

/// One sample of the Prometheus text: `name{labels}` and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name with its labels, as written by the worker.
    pub series: String,
    /// The value as written.
    pub value: String,
}

/// Health and samples (histogram buckets left out: their sums and counts are kept).
#[derive(Debug, Clone)]
pub struct WorkerStatus {
    /// `/healthz`.
    pub health: Health,
    /// `/metrics` samples, or why they could not be read.
    pub samples: Result<Vec<Sample>, String>,
}

/// Reads both endpoints (concurrently, each bounded by the client's timeout).
pub async fn fetch(http: &reqwest::Client, base: &str) -> WorkerStatus {
    if base.is_empty() {
        return WorkerStatus { health: Health::NotConfigured, samples: Ok(Vec::new()) };
    }
    let base = base.trim_end_matches('/');
    let (h, m) = tokio::join!(http.get(format!("{base}/healthz")).send(), http.get(format!("{base}/metrics")).send());
    let health = match h {
        Ok(r) => {
            let code = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            if code == 200 {
                Health::Up
            } else {
                Health::Down(code, text.chars().take(300).collect())
            }
        }
        Err(e) => Health::Unreachable(e.to_string()),
    };
    let samples = match m {
        Ok(r) if r.status().is_success() => r.text().await.map(|t| parse(&t)).map_err(|e| e.to_string()),
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Err(e.to_string()),
    };
    WorkerStatus { health, samples }
}

/// The samples of a Prometheus text exposition, without comments and histogram buckets.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next().unwrap_or(series);
            (!name.ends_with("_bucket")).then(|| Sample { series: series.to_string(), value: value.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_without_buckets() {
        let t = "# HELP x y\n# TYPE x counter\nvasscm_worker_messages_total{status=\"accepted\"} 21\n\
                 vasscm_worker_sign_seconds_bucket{le=\"0.001\"} 3\nvasscm_worker_sign_seconds_count 21\nvasscm_database_up 1\n";
        let s = parse(t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], Sample { series: "vasscm_worker_messages_total{status=\"accepted\"}".into(), value: "21".into() });
        assert_eq!(s[2].series, "vasscm_database_up");
    }
}
