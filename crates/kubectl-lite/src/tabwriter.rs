//! Go's `text/tabwriter` as kubectl's describers configure it (padding 2,
//! spaces, no flags): the layout engine under every `describe` text.
//!
//! Lines are tab-separated cells; a tab-terminated cell is padded to the
//! widest cell of its column, where a column is a run of consecutive lines
//! that all have that cell. That rule is why `Port:  http  80/TCP` keeps
//! two spaces inside while the keys above and below it align, and why a
//! block under a heading without a tab (`Conditions:`) aligns on its own.

/// Go's `text/tabwriter` with padding 2 and spaces: each tab-terminated
/// cell is padded to the widest cell of its column among the consecutive
/// lines that have that column.
pub fn tabwriter(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths = vec![Vec::<usize>::new(); lines.len()];
    for (i, cells) in lines.iter().enumerate() {
        widths[i] = vec![0; cells.len().saturating_sub(1)];
    }
    let max_cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    for col in 0..max_cols {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() > col + 1 {
                let start = i;
                while i < lines.len() && lines[i].len() > col + 1 {
                    i += 1;
                }
                let w = (start..i).map(|j| lines[j][col].chars().count()).max().unwrap_or(0) + 2;
                (start..i).for_each(|j| widths[j][col] = w);
            } else {
                i += 1;
            }
        }
    }
    let mut out = String::new();
    for (cells, ws) in lines.iter().zip(&widths) {
        for (c, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = ws.get(c) {
                out.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_blocks_like_go() {
        let text =
            tabwriter("Name:\tnp2\nPort:\t80-8080\t80/TCP\nTargetPort:\t8080/TCP\nInternal Traffic Policy:\tCluster\n");
        assert_eq!(
            text,
            "Name:                     np2\nPort:                     80-8080  80/TCP\nTargetPort:               8080/TCP\nInternal Traffic Policy:  Cluster\n"
        );
    }
}
