//! A minimal POSIX ustar archive writer for the RTL bundle: regular files only,
//! fixed mode and owner, modification time 0, so the same files always give the
//! same bytes (the bundle is stored content-addressed).

const BLOCK: usize = 512;

/// Archive `files` (relative path, contents) under the directory `root`.
///
/// Fails when a path does not fit the ustar header (100 bytes of name plus 155
/// of prefix) or is not a plain relative path.
pub fn archive(root: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let total: usize = files
        .iter()
        .map(|(_, data)| BLOCK + data.len().div_ceil(BLOCK) * BLOCK)
        .sum();
    let mut out = Vec::with_capacity(total + 2 * BLOCK);
    for (name, data) in files {
        if name.is_empty() || name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return Err(format!("bundle path `{name}` is not a plain relative path"));
        }
        out.extend_from_slice(&header(&format!("{root}/{name}"), data.len())?);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    // Two zero blocks end the archive.
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

fn header(path: &str, size: usize) -> Result<[u8; BLOCK], String> {
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_path(path)?;
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size as u64);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..270].copy_from_slice(b"arena");
    h[297..302].copy_from_slice(b"arena");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is taken with its own field read as eight spaces.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    Ok(h)
}

/// Split a path into ustar's (prefix, name) at a `/`, name at most 100 bytes and
/// prefix at most 155.
fn split_path(path: &str) -> Result<(&str, &str), String> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    let too_long = || format!("bundle path `{path}` is too long for a tar header");
    let cut = path
        .char_indices()
        .filter(|&(i, c)| c == '/' && i <= 155 && path.len() - i - 1 <= 100)
        .map(|(i, _)| i)
        .next()
        .ok_or_else(too_long)?;
    Ok((&path[..cut], &path[cut + 1..]))
}

/// Write `value` as zero-padded octal ending in NUL, filling the field.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tar_reads_the_archive_back() {
        let long = format!("{}/deep.v", "d".repeat(120));
        let files = vec![
            ("top.v".to_string(), b"module top; endmodule\n".to_vec()),
            ("empty.txt".to_string(), Vec::new()),
            (long.clone(), vec![b'x'; 1000]),
        ];
        let bytes = archive("bundle", &files).unwrap();
        assert_eq!(bytes.len() % BLOCK, 0);
        // Deterministic: the same files give the same bytes.
        assert_eq!(bytes, archive("bundle", &files).unwrap());
        let dir = std::env::temp_dir().join(format!("arena-tar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tar_path = dir.join("b.tar");
        std::fs::write(&tar_path, &bytes).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&tar_path)
            .arg("-C")
            .arg(&dir)
            .status()
            .expect("tar runs");
        assert!(status.success());
        assert_eq!(
            std::fs::read(dir.join("bundle/top.v")).unwrap(),
            b"module top; endmodule\n"
        );
        assert_eq!(std::fs::read(dir.join("bundle/empty.txt")).unwrap(), b"");
        assert_eq!(
            std::fs::read(dir.join("bundle").join(&long)).unwrap(),
            vec![b'x'; 1000]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_paths_that_escape_or_do_not_fit() {
        let one = |name: &str| archive("b", &[(name.to_string(), vec![])]);
        assert!(one("../x").is_err());
        assert!(one("/etc/passwd").is_err());
        assert!(one("").is_err());
        assert!(one(&"n".repeat(300)).is_err());
    }
}
