//! What both formats share around their children: the size limit, the root element and
//! its namespace, the header first, then one list of pupils or children read one at a
//! time, each to its own outcome.

use crate::imported::{ChildOutcome, FailedChild};
use crate::problem::{ElementProblem, FileProblem};
use crate::xml::{Node, Stream};

/// A format's envelope: `<Root><Header/><List><Item/>…</List></Root>`.
pub(crate) struct Envelope {
    pub root: &'static str,
    /// The format in words, for messages ("a Common Transfer File").
    pub format: &'static str,
    pub list: &'static str,
    pub item: &'static str,
}

impl Envelope {
    /// Reads the file: refused whole for the size, the root, the namespace or what
    /// `header` finds; otherwise `item` gives each item's outcome, an element that is not
    /// an item failing on its own.
    pub fn read<H>(
        &self,
        bytes: &[u8],
        max_bytes: u64,
        header: impl FnOnce(&Node, &str) -> Result<H, FileProblem>,
        mut item: impl FnMut(&Node, &str, &H) -> ChildOutcome,
    ) -> Result<(H, Vec<ChildOutcome>), FileProblem> {
        let size = bytes.len() as u64;
        if size > max_bytes {
            return Err(FileProblem::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        let mut stream = Stream::new(bytes);
        let root = stream.root()?;
        if root.name != self.root {
            return Err(FileProblem::WrongRoot {
                found: root.name,
                expected: self.root,
                format: self.format,
            });
        }
        if let Some(found) = root.namespace {
            return Err(FileProblem::WrongNamespace {
                found,
                format: self.format,
            });
        }
        let root_path = format!("/{}", self.root);
        let header_node = match stream.next_element()? {
            Some((name, empty)) if name == "Header" => stream.read(name, empty)?,
            _ => {
                return Err(FileProblem::InvalidHeader(vec![ElementProblem::new(
                    format!("{root_path}/Header"),
                    "is required, first",
                )]));
            }
        };
        let header = header(&header_node, &format!("{root_path}/Header"))?;
        let mut outcomes = Vec::new();
        while let Some((name, empty)) = stream.next_element()? {
            let path = format!("{root_path}/{name}");
            if name != self.list {
                return Err(FileProblem::InvalidHeader(vec![ElementProblem::new(
                    path,
                    format!(
                        "is not an element of <{}>; the elements here are Header, {}",
                        self.root, self.list
                    ),
                )]));
            }
            if empty {
                continue;
            }
            stream.enter()?;
            let mut index = 0;
            while let Some((name, empty)) = stream.next_element()? {
                let node = stream.read(name, empty)?;
                if node.name == self.item {
                    index += 1;
                    outcomes.push(item(
                        &node,
                        &format!("{path}/{}[{index}]", self.item),
                        &header,
                    ));
                } else {
                    let at = format!("{path}/{}", node.name);
                    outcomes.push(ChildOutcome::Failed(FailedChild {
                        element: at.clone(),
                        key: None,
                        problems: vec![ElementProblem::new(
                            at,
                            format!(
                                "is not an element of <{}>; the elements here are {}",
                                self.list, self.item
                            ),
                        )],
                    }));
                }
            }
        }
        stream.finish()?;
        Ok((header, outcomes))
    }
}
