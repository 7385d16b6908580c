//! The stage dependency graph (petgraph): cycles shown as paths, dependency
//! levels for the dry-run plan, transitive dependents and dependencies for
//! selections and `skip_dependents`.

use std::collections::{BTreeSet, HashMap};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};

use crate::config::StagesFile;

/// Stages as nodes, an edge `dependency -> dependent` for every `depends_on`.
/// Node indices follow the file order, which is the tie-break everywhere.
#[derive(Debug, Clone)]
pub struct StageGraph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl StageGraph {
    pub fn new(file: &StagesFile) -> StageGraph {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for stage in &file.stages {
            // Duplicate names are reported by the loader; keep the first.
            if !index.contains_key(&stage.name) {
                index.insert(stage.name.clone(), graph.add_node(stage.name.clone()));
            }
        }
        for stage in &file.stages {
            let to = index[&stage.name];
            for dep in &stage.depends_on {
                if let Some(&from) = index.get(dep) {
                    graph.update_edge(from, to, ());
                }
            }
        }
        StageGraph { graph, index }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Stage names in file order.
    pub fn names(&self) -> Vec<String> {
        self.graph
            .node_indices()
            .map(|i| self.graph[i].clone())
            .collect()
    }

    /// Every cycle, each as a path that ends where it starts:
    /// `["a", "b", "a"]`. Self-dependencies are `["a", "a"]`.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        let mut components = tarjan_scc(&self.graph);
        components.sort_by_key(|c| c.iter().min().copied());
        for component in components {
            if component.len() == 1 {
                let n = component[0];
                if self.graph.contains_edge(n, n) {
                    cycles.push(vec![self.graph[n].clone(), self.graph[n].clone()]);
                }
                continue;
            }
            let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
            let Some(&start) = members.iter().next() else {
                continue;
            };
            if let Some(path) = self.cycle_through(start, &members) {
                cycles.push(path);
            }
        }
        cycles
    }

    /// A cycle through `start` inside one strongly connected component, in
    /// `depends_on` direction (`a -> b` = a depends on b), found by DFS.
    fn cycle_through(
        &self,
        start: NodeIndex,
        members: &BTreeSet<NodeIndex>,
    ) -> Option<Vec<String>> {
        // Walk dependent -> dependency (incoming edges) so the path reads as
        // "a depends on b depends on a".
        let mut stack: Vec<(NodeIndex, Vec<NodeIndex>)> = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(node, Direction::Incoming)
                .filter(|n| members.contains(n))
                .collect();
            next.sort();
            for n in next.into_iter().rev() {
                if n == start {
                    let mut names: Vec<String> =
                        path.iter().map(|i| self.graph[*i].clone()).collect();
                    names.push(self.graph[start].clone());
                    return Some(names);
                }
                if seen.insert(n) {
                    let mut p = path.clone();
                    p.push(n);
                    stack.push((n, p));
                }
            }
        }
        None
    }

    /// Direct dependencies of `name`, in file order.
    pub fn dependencies(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Direction::Incoming)
    }

    /// Direct dependents of `name`, in file order.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Direction::Outgoing)
    }

    fn neighbors(&self, name: &str, direction: Direction) -> Vec<String> {
        let Some(&i) = self.index.get(name) else {
            return Vec::new();
        };
        let mut out: Vec<NodeIndex> = self.graph.neighbors_directed(i, direction).collect();
        out.sort();
        out.dedup();
        out.into_iter().map(|n| self.graph[n].clone()).collect()
    }

    /// Every stage `name` depends on, directly or not (not `name` itself).
    pub fn ancestors(&self, name: &str) -> BTreeSet<String> {
        let Some(&i) = self.index.get(name) else {
            return BTreeSet::new();
        };
        let reversed = Reversed(&self.graph);
        let mut dfs = Dfs::new(reversed, i);
        let mut out = BTreeSet::new();
        while let Some(n) = dfs.next(reversed) {
            if n != i {
                out.insert(self.graph[n].clone());
            }
        }
        out
    }

    /// Every stage that depends on `name`, directly or not (not `name` itself).
    pub fn descendants(&self, name: &str) -> BTreeSet<String> {
        let Some(&i) = self.index.get(name) else {
            return BTreeSet::new();
        };
        let mut dfs = Dfs::new(&self.graph, i);
        let mut out = BTreeSet::new();
        while let Some(n) = dfs.next(&self.graph) {
            if n != i {
                out.insert(self.graph[n].clone());
            }
        }
        out
    }

    /// Dependency levels of the stages in `subset` (edges outside the subset
    /// ignored): level 0 has no dependency in the subset, level n depends on
    /// something at level n-1. Stages of one level may run in parallel.
    /// Requires an acyclic graph (check [`StageGraph::cycles`] first).
    pub fn levels(&self, subset: &BTreeSet<String>) -> Vec<Vec<String>> {
        let mut level: HashMap<NodeIndex, usize> = HashMap::new();
        for n in self.topo_order() {
            if !subset.contains(&self.graph[n]) {
                continue;
            }
            let l = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .filter(|d| subset.contains(&self.graph[*d]))
                .filter_map(|d| level.get(&d).map(|l| l + 1))
                .max()
                .unwrap_or(0);
            level.insert(n, l);
        }
        let depth = level.values().max().map(|m| m + 1).unwrap_or(0);
        let mut out = vec![Vec::new(); depth];
        let mut nodes: Vec<(NodeIndex, usize)> = level.into_iter().collect();
        nodes.sort();
        for (n, l) in nodes {
            out[l].push(self.graph[n].clone());
        }
        out
    }

    /// All stages, dependencies first, file order among independent ones
    /// (Kahn's algorithm). Stages on a cycle are left out.
    fn topo_order(&self) -> Vec<NodeIndex> {
        let mut indegree: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                let deps: BTreeSet<NodeIndex> = self
                    .graph
                    .neighbors_directed(n, Direction::Incoming)
                    .collect();
                (n, deps.len())
            })
            .collect();
        let mut ready: BTreeSet<NodeIndex> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut out = Vec::new();
        while let Some(n) = ready.pop_first() {
            out.push(n);
            let dependents: BTreeSet<NodeIndex> = self
                .graph
                .neighbors_directed(n, Direction::Outgoing)
                .collect();
            for m in dependents {
                if let Some(d) = indegree.get_mut(&m) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(m);
                    }
                }
            }
        }
        out
    }

    /// Stage names, dependencies first (file order among independent ones).
    pub fn order(&self) -> Vec<String> {
        self.topo_order()
            .into_iter()
            .map(|n| self.graph[n].clone())
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{GlobalConfig, OnFailure, StageDef};

    /// A stages.yaml with these stages (name, dependencies) and defaults elsewhere.
    pub(crate) fn file(stages: &[(&str, &[&str])]) -> StagesFile {
        StagesFile {
            path: "stages.yaml".into(),
            api_version: "apirun/v1".into(),
            kind: "StageOrchestration".into(),
            stages: stages
                .iter()
                .map(|(name, deps)| StageDef {
                    name: name.to_string(),
                    config_path: format!("{name}/config.yaml").into(),
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    env: Default::default(),
                    env_from_stages: Vec::new(),
                    timeout: None,
                    on_failure: OnFailure::Stop,
                    condition: None,
                })
                .collect(),
            global: GlobalConfig::default(),
        }
    }

    #[test]
    fn cycle_is_shown_as_a_path() {
        let g = StageGraph::new(&file(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]));
        assert_eq!(
            g.cycles(),
            vec![vec!["a".to_string(), "b".into(), "a".into()]]
        );
        let g = StageGraph::new(&file(&[("a", &["a"])]));
        assert_eq!(g.cycles(), vec![vec!["a".to_string(), "a".into()]]);
        let g = StageGraph::new(&file(&[("a", &[]), ("b", &["a"])]));
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn levels_and_relatives_of_a_diamond() {
        let g = StageGraph::new(&file(&[
            ("top", &[]),
            ("l", &["top"]),
            ("r", &["top"]),
            ("bottom", &["l", "r"]),
        ]));
        let all: BTreeSet<String> = g.names().into_iter().collect();
        assert_eq!(
            g.levels(&all),
            vec![
                vec!["top".to_string()],
                vec!["l".into(), "r".into()],
                vec!["bottom".into()]
            ]
        );
        assert_eq!(g.ancestors("bottom").len(), 3);
        assert_eq!(
            g.descendants("l").into_iter().collect::<Vec<_>>(),
            vec!["bottom".to_string()]
        );
        assert_eq!(g.order(), vec!["top", "l", "r", "bottom"]);
    }
}
