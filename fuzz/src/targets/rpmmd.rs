//! RPM repository metadata: repomd.xml, primary.xml and metalinks.

/// repomd.xml as the RPM repository chain reads it: whatever parses names
/// only locations inside the repository, each data type once.
pub fn rpm_repomd(data: &[u8]) {
    use build_verify::lists::{repomd, rpmmd};
    for allow_sha1 in [false, true] {
        let Ok(md) = repomd::parse(data, rpmmd::Policy { allow_sha1 }) else {
            continue;
        };
        let mut kinds = std::collections::HashSet::new();
        for d in &md.data {
            assert!(rpmmd::check_location(&d.location).is_ok(), "{}", d.location);
            assert!(kinds.insert(d.kind.clone()), "duplicate {}", d.kind);
            assert_eq!(d.checksum.digest.len(), d.checksum.algo.digest_len());
        }
    }
}

/// primary.xml, streamed: the packages do not depend on the pieces the
/// document arrives in (the first byte picks the piece size), and every
/// location stays inside the repository.
pub fn rpm_primary(data: &[u8]) {
    use build_verify::lists::{primary, rpmmd};
    let policy = rpmmd::Policy::default();
    let whole = primary::parse_all(data, policy);
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut got = Vec::new();
    let mut p = primary::Parser::new(policy);
    let mut push = |x: primary::Package| {
        got.push(x);
        Ok(())
    };
    let streamed = data
        .chunks(step)
        .try_for_each(|c| p.feed(c, &mut push))
        .and_then(|()| p.finish(&mut push).map(|_| ()));
    assert_eq!(whole.is_ok(), streamed.is_ok(), "pieces of {step}");
    if let Ok(all) = whole {
        assert_eq!(all, got, "pieces of {step}");
        for pkg in &all {
            assert!(rpmmd::check_location(pkg.location()).is_ok());
        }
    }
}

/// A metalink's repomd.xml entry: what parses has a strong hash of the
/// right length.
pub fn metalink(data: &[u8]) {
    if let Ok(m) = build_verify::lists::metalink::parse(data) {
        assert!(!m.current.hashes.is_empty());
        for (a, d) in m
            .current
            .hashes
            .iter()
            .chain(m.alternates.iter().flat_map(|x| x.hashes.iter()))
        {
            assert_eq!(d.len(), a.digest_len());
            assert!(!a.is_weak());
        }
    }
}
