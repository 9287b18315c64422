//! Reading a DfE XML file as a stream of elements: the root checked, then one top-level
//! group or one pupil at a time built into a small tree, never the whole file. No DTD is
//! read and no entity is expanded: a `<!DOCTYPE` anywhere refuses the file, and of the
//! references only the five XML entities and character references are understood.

use crate::problem::FileProblem;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Deeper nesting than any DfE return has is refused, so a hostile file cannot make a
/// tree as deep as it likes.
const MAX_DEPTH: usize = 32;

/// One element with its text and its child elements, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// The element's own text, references resolved, not trimmed.
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child element of that name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element of that name, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the child of that name, if it is there and not empty.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// The repeated `name` elements under `parent` (at `parent_path`), each with its path
/// (`…/YearData[2]`).
pub fn each<'a>(
    parent: Option<&'a Node>,
    parent_path: String,
    name: &'a str,
) -> impl Iterator<Item = (&'a Node, String)> + 'a {
    parent
        .into_iter()
        .flat_map(move |p| p.all(name))
        .enumerate()
        .map(move |(i, n)| (n, format!("{parent_path}/{name}[{}]", i + 1)))
}

/// A stream over one document: its root, then its elements one at a time.
pub struct Stream<'a> {
    reader: Reader<&'a [u8]>,
    depth: usize,
}

/// The root element as found.
pub struct Root {
    pub name: String,
    /// The namespace the root is in (its prefix, or a default `xmlns`), if any.
    pub namespace: Option<String>,
}

impl<'a> Stream<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(bytes);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self { reader, depth: 0 }
    }

    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    fn syntax(&self, error: impl std::fmt::Display) -> FileProblem {
        FileProblem::NotWellFormed {
            at_byte: self.position(),
            message: error.to_string(),
        }
    }

    fn event(&mut self) -> Result<Event<'a>, FileProblem> {
        match self.reader.read_event() {
            Ok(Event::DocType(_)) => Err(FileProblem::DtdRefused),
            Ok(event) => Ok(event),
            Err(e) => Err(self.syntax(e)),
        }
    }

    /// Reads up to the root element's start, refusing a DTD on the way.
    pub fn root(&mut self) -> Result<Root, FileProblem> {
        loop {
            match self.event()? {
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::Start(start) => {
                    self.depth = 1;
                    return Ok(root_of(&start));
                }
                Event::Empty(start) => {
                    // A root with nothing in it: checked like any other, then found empty.
                    return Ok(root_of(&start));
                }
                Event::Eof => return Err(FileProblem::Empty),
                _ => return Err(self.syntax("content before the root element")),
            }
        }
    }

    /// The next element inside the current one (its name, and whether it is empty), or
    /// `None` when the current one closes. Text between elements here is refused with
    /// the name of the element it sits in.
    pub fn next_element(&mut self) -> Result<Option<(String, bool)>, FileProblem> {
        loop {
            match self.event()? {
                Event::Start(start) => return Ok(Some((name_of(&start), false))),
                Event::Empty(start) => return Ok(Some((name_of(&start), true))),
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(None);
                }
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => return Err(self.truncated()),
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.syntax("text where only elements belong"));
                }
                Event::Decl(_) | Event::DocType(_) => {
                    return Err(self.syntax("a declaration inside the document"));
                }
            }
        }
    }

    /// Enters the element `next_element` just returned (not an empty one), so that the
    /// next call reads its children.
    pub fn enter(&mut self) -> Result<(), FileProblem> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.syntax(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn truncated(&self) -> FileProblem {
        FileProblem::NotWellFormed {
            at_byte: self.position(),
            message: "the file ends before its elements are closed (truncated?)".to_owned(),
        }
    }

    /// Reads the whole of the element `next_element` just returned into a tree.
    pub fn read(&mut self, name: String, empty: bool) -> Result<Node, FileProblem> {
        let root = Node {
            name,
            text: String::new(),
            children: Vec::new(),
        };
        if empty {
            return Ok(root);
        }
        let mut stack = vec![root];
        self.enter()?;
        loop {
            let event = self.event()?;
            let Some(top) = stack.last_mut() else {
                return Err(self.syntax("unbalanced elements"));
            };
            match event {
                Event::Start(start) => {
                    self.enter()?;
                    stack.push(Node {
                        name: name_of(&start),
                        text: String::new(),
                        children: Vec::new(),
                    });
                }
                Event::Empty(start) => top.children.push(Node {
                    name: name_of(&start),
                    text: String::new(),
                    children: Vec::new(),
                }),
                Event::Text(text) => {
                    let text = text.xml_content().map_err(|e| self.syntax(e))?;
                    top.text.push_str(&text);
                }
                Event::CData(data) => {
                    let data = data.decode().map_err(|e| self.syntax(e))?;
                    top.text.push_str(&data);
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = reference.decode().map_err(|e| self.syntax(e))?;
                            match quick_xml::escape::resolve_predefined_entity(&name) {
                                Some(text) => text.to_owned(),
                                None => return Err(FileProblem::EntityRefused(name.into_owned())),
                            }
                        }
                        Err(e) => return Err(self.syntax(e)),
                    };
                    top.text.push_str(&resolved);
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    let done = stack.pop();
                    match (done, stack.last_mut()) {
                        (Some(node), Some(parent)) => parent.children.push(node),
                        (Some(node), None) => return Ok(node),
                        (None, _) => return Err(self.syntax("unbalanced elements")),
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => return Err(self.truncated()),
                Event::Decl(_) | Event::DocType(_) => {
                    return Err(self.syntax("a declaration inside the document"));
                }
            }
        }
    }

    /// After the root closes: only comments, processing instructions and spaces may
    /// follow.
    pub fn finish(&mut self) -> Result<(), FileProblem> {
        loop {
            match self.event()? {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                _ => return Err(self.syntax("content after the root element")),
            }
        }
    }
}

fn name_of(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.name().as_ref()).into_owned()
}

fn root_of(start: &BytesStart<'_>) -> Root {
    let name = name_of(start);
    let prefix = name.split_once(':').map(|(p, _)| p.to_owned());
    let default_ns = start.attributes().flatten().find_map(|a| {
        (a.key.as_ref() == b"xmlns").then(|| String::from_utf8_lossy(&a.value).into_owned())
    });
    Root {
        name: name
            .split_once(':')
            .map_or(name.clone(), |(_, local)| local.to_owned()),
        namespace: prefix
            .map(|p| format!("prefix {p}:"))
            .or(default_ns.filter(|ns| !ns.is_empty())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &str) -> Result<Node, FileProblem> {
        let mut s = Stream::new(xml.as_bytes());
        let root = s.root()?;
        let mut node = Node {
            name: root.name,
            text: String::new(),
            children: Vec::new(),
        };
        while let Some((name, empty)) = s.next_element()? {
            node.children.push(s.read(name, empty)?);
        }
        s.finish()?;
        Ok(node)
    }

    #[test]
    fn text_keeps_predefined_and_character_references() {
        let node =
            read_all("<R><A>Tom &amp; Jo &#233;&#x41;</A><B><![CDATA[<x>]]></B></R>").unwrap();
        assert_eq!(node.value("A"), Some("Tom & Jo éA"));
        assert_eq!(node.value("B"), Some("<x>"));
    }

    #[test]
    fn a_doctype_or_an_unknown_entity_refuses_the_file() {
        let dtd = "<?xml version=\"1.0\"?><!DOCTYPE R [<!ENTITY a \"b\">]><R><A>&a;</A></R>";
        assert_eq!(read_all(dtd).unwrap_err(), FileProblem::DtdRefused);
        let entity = read_all("<R><A>&nbsp;</A></R>").unwrap_err();
        assert_eq!(entity, FileProblem::EntityRefused("nbsp".into()));
    }

    #[test]
    fn truncated_and_mismatched_files_are_not_well_formed() {
        for bad in ["<R><A>1</A>", "<R><A>1</B></R>", "<R><A>1</A></R><S/>", ""] {
            let e = read_all(bad).unwrap_err();
            assert!(
                matches!(e, FileProblem::NotWellFormed { .. } | FileProblem::Empty),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn the_root_namespace_is_reported() {
        let mut s = Stream::new(b"<R xmlns=\"urn:x\"/>");
        assert_eq!(s.root().unwrap().namespace.as_deref(), Some("urn:x"));
        let mut s = Stream::new(b"<p:R xmlns:p=\"urn:x\"/>");
        let root = s.root().unwrap();
        assert_eq!(
            (root.name.as_str(), root.namespace.as_deref()),
            ("R", Some("prefix p:"))
        );
        let mut s = Stream::new(b"<R xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>");
        assert_eq!(s.root().unwrap().namespace, None);
    }

    #[test]
    fn nesting_deeper_than_any_return_is_refused() {
        let deep = format!("<R>{}{}</R>", "<A>".repeat(40), "</A>".repeat(40));
        assert!(matches!(
            read_all(&deep),
            Err(FileProblem::NotWellFormed { .. })
        ));
    }
}
