namespace AvBert.Runtime;

/// <summary>How a long job shows its progress (--progress).</summary>
public enum ProgressMode
{
    /// <summary>Live bar on an interactive terminal, plain lines otherwise (CI, redirected output).</summary>
    Auto,
    Live,
    Plain,
    Off,
}
