using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// Child modules by name (state-dict keys <c>&lt;field&gt;.&lt;name&gt;.…</c>, as TorchSharp's ModuleDict), without indexers.
/// TorchSharp 0.107's ModuleDict has two (by key and by position), and Module.to(device or dtype) indexes a module's public
/// properties by name, so moving any model that holds a ModuleDict to CUDA throws "An item with the same key has already
/// been added. Key: Item". Children are moved by the parent's .to() like any other submodule.
/// </summary>
public sealed class NamedModules<T> : Module where T : Module
{
    readonly Dictionary<string, T> _byName = new();
    readonly List<string> _order = new();

    public NamedModules(IEnumerable<(string Name, T Module)> modules) : base(nameof(NamedModules<T>))
    {
        foreach (var (name, module) in modules)
        {
            _byName.Add(name, module);
            _order.Add(name);
            register_module(name, module);
        }
    }

    /// <summary>Names in insertion order.</summary>
    public IReadOnlyList<string> Names => _order;

    public T Get(string name) => _byName[name];

    public bool TryGet(string name, out T module) => _byName.TryGetValue(name, out module!);
}
