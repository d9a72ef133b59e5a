using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace AvBert.Export.Onnx;

/// <summary>
/// An exported graph in ONNX Runtime (`--runtime onnx`, docs/export.md): on the CPU, or with its CUDA execution provider
/// where that is installed (the GPU build of ONNX Runtime); tensors in and out are TorchSharp CPU float32 tensors.
/// </summary>
public sealed class OnnxRuntimeModel : IDisposable
{
    readonly InferenceSession session;

    /// <summary>"CUDA" or "CPU": where ONNX Runtime runs the graph.</summary>
    public string Provider { get; }
    public IReadOnlyList<string> InputNames => session.InputNames;
    public IReadOnlyList<string> OutputNames => session.OutputNames;

    OnnxRuntimeModel(InferenceSession session, string provider) => (this.session, Provider) = (session, provider);

    /// <param name="model">the serialized graph</param>
    /// <param name="cuda">try the CUDA provider first (falls back to the CPU when ONNX Runtime has none)</param>
    /// <param name="threads">intra-op threads (0: ONNX Runtime's default, one per core)</param>
    public static OnnxRuntimeModel Create(byte[] model, bool cuda = false, int threads = 0)
    {
        if (cuda)
        {
            try
            {
                using var options = SessionOptions.MakeSessionOptionWithCudaProvider(0);
                return new OnnxRuntimeModel(new InferenceSession(model, options), "CUDA");
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                // The CPU package has no CUDA provider: the CPU runs it.
            }
        }
        using var cpu = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads };
        return new OnnxRuntimeModel(new InferenceSession(model, cpu), "CPU");
    }

    /// <summary>Runs the graph: <paramref name="inputs"/> by input name (CPU float32) → every output by name.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var values = new List<OrtValue>();
        try
        {
            var feeds = new Dictionary<string, OrtValue>();
            foreach (var name in session.InputNames)
            {
                var t = inputs.TryGetValue(name, out var given) ? given : throw new ArgumentException($"the graph needs input '{name}'");
                using var c = t.to(float32).cpu().contiguous();
                var v = OrtValue.CreateTensorValueFromMemory(c.data<float>().ToArray(), c.shape);
                values.Add(v);
                feeds[name] = v;
            }
            using var options = new RunOptions();
            using var results = session.Run(options, feeds, session.OutputNames);
            var outputs = new Dictionary<string, Tensor>();
            for (int i = 0; i < results.Count; i++)
            {
                var r = results[i];
                var shape = r.GetTensorTypeAndShape().Shape;
                outputs[session.OutputNames[i]] = tensor(r.GetTensorDataAsSpan<float>().ToArray(), shape);
            }
            return outputs;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public void Dispose() => session.Dispose();
}
