//! Files refused whole, before anything of them could be stored: truncated, the wrong
//! root or namespace, over the size limit, a DTD with a billion laughs, an entity the
//! file declares itself. Each for both formats, with the stable code a node will answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dfe_formats::fixtures::{CinFile, CtfFile};
use dfe_formats::{Addressee, CinSettings, CtfSettings, FileProblem, read_cin_census, read_ctf};
use schemas::details::LaCode;

fn ctf_settings() -> CtfSettings {
    CtfSettings::school(Addressee::school("999", "4001", None).unwrap())
}

fn cin_settings() -> CinSettings {
    CinSettings::social_care(LaCode::new("999").unwrap())
}

/// What each reader makes of `bytes`: the refusal of a CTF and of a census.
fn refusals(bytes: &[u8]) -> (FileProblem, FileProblem) {
    let ctf = read_ctf(bytes, &ctf_settings()).err();
    let cin = read_cin_census(bytes, &cin_settings()).err();
    match (ctf, cin) {
        (Some(ctf), Some(cin)) => (ctf, cin),
        other => panic!("accepted: {other:?}"),
    }
}

fn files() -> [(&'static str, String); 2] {
    [
        ("ctf", CtfFile::synthetic(25, 3).to_xml()),
        ("cin", CinFile::synthetic(2027, 3).to_xml()),
    ]
}

fn read(kind: &str, bytes: &[u8]) -> Result<usize, FileProblem> {
    match kind {
        "ctf" => read_ctf(bytes, &ctf_settings()).map(|i| i.pupils.len()),
        _ => read_cin_census(bytes, &cin_settings()).map(|i| i.children.len()),
    }
}

#[test]
fn a_truncated_file_is_refused_whole_wherever_it_stops() {
    for (kind, xml) in files() {
        for cut in [xml.len() / 3, xml.len() - 30, xml.len() - 1] {
            let e = read(kind, &xml.as_bytes()[..cut]).unwrap_err();
            assert!(
                matches!(e, FileProblem::NotWellFormed { .. }),
                "{kind} at {cut}: {e}"
            );
            assert_eq!(e.code(), "import-not-well-formed");
        }
        assert_eq!(read(kind, b"").unwrap_err(), FileProblem::Empty);
    }
}

#[test]
fn the_wrong_root_or_namespace_is_refused_whole() {
    let (ctf, cin) = refusals(b"<Report><Header/></Report>");
    assert!(
        matches!(
            ctf,
            FileProblem::WrongRoot {
                expected: "CTfile",
                ..
            }
        ),
        "{ctf}"
    );
    assert!(
        matches!(
            cin,
            FileProblem::WrongRoot {
                expected: "Message",
                ..
            }
        ),
        "{cin}"
    );
    // Each format's file given to the other's reader.
    let [(_, ctf_file), (_, cin_file)] = files();
    let e = read("cin", ctf_file.as_bytes()).unwrap_err();
    assert_eq!(e.code(), "import-wrong-format", "{e}");
    let e = read("ctf", cin_file.as_bytes()).unwrap_err();
    assert_eq!(e.code(), "import-wrong-format", "{e}");
    for (kind, xml) in files() {
        let root = if kind == "ctf" {
            "<CTfile>"
        } else {
            "<Message>"
        };
        let namespaced = xml.replacen(
            root,
            &root.replace('>', " xmlns=\"http://www.govtalk.gov.uk/CM/envelope\">"),
            1,
        );
        let e = read(kind, namespaced.as_bytes()).unwrap_err();
        assert!(
            matches!(e, FileProblem::WrongNamespace { .. }),
            "{kind}: {e}"
        );
    }
}

#[test]
fn a_file_over_the_limit_is_refused_before_it_is_read() {
    for (kind, xml) in files() {
        let size = xml.len() as u64;
        let e = match kind {
            "ctf" => read_ctf(
                xml.as_bytes(),
                &CtfSettings {
                    max_bytes: size - 1,
                    ..ctf_settings()
                },
            )
            .map(|_| ()),
            _ => read_cin_census(
                xml.as_bytes(),
                &CinSettings {
                    max_bytes: size - 1,
                    ..cin_settings()
                },
            )
            .map(|_| ()),
        }
        .unwrap_err();
        assert_eq!(
            e,
            FileProblem::TooLarge {
                size,
                limit: size - 1
            },
            "{kind}"
        );
        assert_eq!(e.code(), "import-too-large");
        assert_eq!(
            read(kind, xml.as_bytes()),
            Ok(3),
            "{kind}: at the limit it is read"
        );
    }
}

#[test]
fn a_billion_laughs_is_refused_without_expanding_anything() {
    let mut laughs =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE CTfile [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]>\n<CTfile><Header><DocumentName>&lol9;</DocumentName></Header></CTfile>");
    let (ctf, cin) = refusals(laughs.as_bytes());
    assert_eq!(ctf, FileProblem::DtdRefused);
    assert_eq!(cin, FileProblem::DtdRefused);
    assert_eq!(ctf.code(), "import-dtd-refused");
}

#[test]
fn an_entity_without_a_dtd_is_refused_and_the_five_xml_ones_are_read() {
    for (kind, xml) in files() {
        let with_entity = xml.replacen("Synthetic", "&ent;", 1);
        let e = read(kind, with_entity.as_bytes()).unwrap_err();
        assert_eq!(e, FileProblem::EntityRefused("ent".into()), "{kind}");
        let escaped = xml.replacen("Synthetic", "Synthetic &amp; &#x53;ons", 1);
        assert_eq!(read(kind, escaped.as_bytes()), Ok(3), "{kind}");
    }
}

#[test]
fn the_header_must_come_first() {
    let e = read("ctf", b"<CTfile><CTFpupilData/></CTfile>").unwrap_err();
    assert_eq!(e.elements()[0].path, "/CTfile/Header");
    let e = read("cin", b"<Message><Children/></Message>").unwrap_err();
    assert_eq!(e.elements()[0].path, "/Message/Header");
}
