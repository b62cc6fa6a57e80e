//! Platform profiles ([`inas_core::profile`]), and loading one by name or from a file: the part
//! that touches the file system.

pub use inas_core::profile::*;

/// A built-in profile by name, or a TOML file by path.
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    if !Profile::looks_like_path(name_or_path) {
        return Profile::builtin(name_or_path);
    }
    let text = std::fs::read_to_string(name_or_path).map_err(|error| ProfileError::Read {
        path: name_or_path.to_owned(),
        error,
    })?;
    Profile::from_toml(&text, name_or_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_load_built_ins_and_paths_load_files() {
        assert_eq!(load("reference").unwrap(), Profile::reference());
        let e = load("nope").unwrap_err().to_string();
        assert!(e.contains("unknown built-in profile 'nope'"), "{e}");
        let e = load("/nonexistent/x.toml").unwrap_err().to_string();
        assert!(e.contains("cannot read profile /nonexistent/x.toml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, BUILTIN[0].1).unwrap();
        let p = load(path.to_str().unwrap()).unwrap();
        assert_eq!(p.cost_table(), Profile::reference().cost_table());
    }
}
