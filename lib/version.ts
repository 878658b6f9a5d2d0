/** The tool's version, recorded in every manifest and printed by `--version`. */
export const VERSION = "0.1.0";
