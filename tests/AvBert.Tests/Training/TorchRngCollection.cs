namespace AvBert.Tests.Training;

/// <summary>
/// Tests that compare runs bit for bit depend on torch's process-wide default generator; xunit runs test classes in
/// parallel, so such classes join this collection, which runs alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchRngCollection
{
    public const string Name = "torch-rng";
}
