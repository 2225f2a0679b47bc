//! [`TopologyDescription`]: a topology printed like Kafka Streams' `TopologyDescription`, and
//! drawn as Mermaid or Graphviz DOT.

use std::collections::BTreeSet;
use std::fmt;

use crate::topology::{NodeDef, NodeKind, SubTopology, Topology};

impl Topology {
    /// A description of the topology, printed like Kafka Streams' `TopologyDescription`.
    pub fn describe(&self) -> TopologyDescription<'_> {
        TopologyDescription { topology: self }
    }
}

/// The printable structure of a topology: see [`Topology::describe`].
pub struct TopologyDescription<'a> {
    topology: &'a Topology,
}

impl<'a> TopologyDescription<'a> {
    /// The sub-topologies.
    pub fn subtopologies(&self) -> &'a [SubTopology] {
        self.topology.subtopologies()
    }

    fn label(node: &NodeDef) -> String {
        match &node.kind {
            NodeKind::Source { topics } => {
                format!("Source: {} (topics: [{}])", node.name, join(topics.iter().map(|t| t.to_string())))
            }
            NodeKind::Processor => format!("Processor: {} (stores: [{}])", node.name, node.stores.join(", ")),
            NodeKind::Sink { topic } => format!("Sink: {} (topic: {topic})", node.name),
        }
    }

    /// A Mermaid flowchart: one subgraph per sub-topology, topics and stores as extra shapes.
    pub fn to_mermaid(&self) -> String {
        let t = self.topology;
        let mut out = String::from("flowchart TD\n");
        let mut topics = BTreeSet::new();
        for sub in self.subtopologies() {
            out.push_str(&format!("  subgraph sub{}[\"Sub-topology {}\"]\n", sub.id, sub.id));
            for &i in &sub.nodes {
                out.push_str(&format!("    n{i}[\"{}\"]\n", t.nodes()[i].name));
            }
            out.push_str("  end\n");
        }
        for (i, node) in t.nodes().iter().enumerate() {
            for &p in &node.parents {
                out.push_str(&format!("  n{p} --> n{i}\n"));
            }
            match &node.kind {
                NodeKind::Source { topics: ts } => {
                    for topic in ts {
                        topics.insert(topic.to_string());
                        out.push_str(&format!("  t_{} --> n{i}\n", ident(&topic.to_string())));
                    }
                }
                NodeKind::Sink { topic } => {
                    topics.insert(topic.to_string());
                    out.push_str(&format!("  n{i} --> t_{}\n", ident(&topic.to_string())));
                }
                NodeKind::Processor => {}
            }
            for s in &node.stores {
                out.push_str(&format!("  n{i} -.- s_{}[(\"{s}\")]\n", ident(s)));
            }
        }
        for topic in topics {
            out.push_str(&format!("  t_{}>\"{topic}\"]\n", ident(&topic)));
        }
        out
    }

    /// A Graphviz DOT rendering of the same graph.
    pub fn to_dot(&self) -> String {
        let t = self.topology;
        let mut out = String::from("digraph topology {\n  rankdir=TB;\n");
        for sub in self.subtopologies() {
            out.push_str(&format!(
                "  subgraph cluster_{} {{\n    label=\"Sub-topology {}\";\n",
                sub.id, sub.id
            ));
            for &i in &sub.nodes {
                out.push_str(&format!("    n{i} [label=\"{}\"];\n", t.nodes()[i].name));
            }
            out.push_str("  }\n");
        }
        for (i, node) in t.nodes().iter().enumerate() {
            for &p in &node.parents {
                out.push_str(&format!("  n{p} -> n{i};\n"));
            }
            match &node.kind {
                NodeKind::Source { topics } => {
                    for topic in topics {
                        out.push_str(&format!(
                            "  \"topic:{topic}\" [shape=cds];\n  \"topic:{topic}\" -> n{i};\n"
                        ));
                    }
                }
                NodeKind::Sink { topic } => {
                    out.push_str(&format!(
                        "  \"topic:{topic}\" [shape=cds];\n  n{i} -> \"topic:{topic}\";\n"
                    ));
                }
                NodeKind::Processor => {}
            }
            for s in &node.stores {
                out.push_str(&format!(
                    "  \"store:{s}\" [shape=cylinder];\n  n{i} -> \"store:{s}\" [style=dashed, dir=none];\n"
                ));
            }
        }
        out.push_str("}\n");
        out
    }
}

impl fmt::Display for TopologyDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.topology;
        writeln!(f, "Topologies:")?;
        for sub in self.subtopologies() {
            writeln!(f, "   Sub-topology: {}", sub.id)?;
            for &i in &sub.nodes {
                let node = &t.nodes()[i];
                writeln!(f, "    {}", Self::label(node))?;
                let children = t.children(i);
                if !children.is_empty() {
                    writeln!(f, "      --> {}", join(children.iter().map(|c| t.nodes()[*c].name.clone())))?;
                }
                if !node.parents.is_empty() {
                    writeln!(
                        f,
                        "      <-- {}",
                        join(node.parents.iter().map(|p| t.nodes()[*p].name.clone()))
                    )?;
                }
            }
        }
        let first = self.subtopologies().len();
        for (i, g) in t.global_stores().iter().enumerate() {
            writeln!(f, "   Sub-topology: {} for global store (will not generate tasks)", first + i)?;
            writeln!(f, "    Source: {} (topics: [{}])", g.source_name, g.topic)?;
            writeln!(f, "      --> {}", g.processor_name)?;
            writeln!(f, "    Processor: {} (stores: [{}])", g.processor_name, g.builder.name())?;
            writeln!(f, "      <-- {}", g.source_name)?;
        }
        Ok(())
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn ident(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}
