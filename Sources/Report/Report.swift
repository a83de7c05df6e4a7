// PNG, SVG and HTML rendering (see DESIGN.md); filled by the snapshot work.
