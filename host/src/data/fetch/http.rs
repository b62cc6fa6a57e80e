//! Downloads and checksums.

use super::*;

/// Downloads a URL into a writer.
pub trait Transport {
    fn get(&self, url: &str, out: &mut dyn Write) -> Result<u64>;
}

/// HTTP(S) with `ureq`, with connect and read timeouts.
pub struct Http(ureq::Agent);

impl Http {
    pub fn new(timeout: Duration) -> Http {
        Http(
            ureq::AgentBuilder::new()
                .timeout_connect(timeout)
                .timeout_read(timeout)
                .try_proxy_from_env(true)
                .build(),
        )
    }
}

impl Transport for Http {
    fn get(&self, url: &str, out: &mut dyn Write) -> Result<u64> {
        let resp = self.0.get(url).call().map_err(|e| anyhow!("{e}"))?;
        Ok(io::copy(&mut resp.into_reader(), out)?)
    }
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&h.finalize()))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a file's sha256; the error names the file and both digests.
pub fn verify(path: &Path, want: &Sha256Hex) -> Result<()> {
    let got = sha256_file(path)?;
    ensure!(
        got == want.0,
        "checksum mismatch for {}: sha256 {got}, expected {want} (a corrupt or different file)",
        path.display()
    );
    Ok(())
}
