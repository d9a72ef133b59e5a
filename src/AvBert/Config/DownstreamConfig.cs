namespace AvBert.Config;

/// <summary>Downstream transfer (SPEC §8). Owned by the downstream issue.</summary>
public sealed record DownstreamConfig
{
}
