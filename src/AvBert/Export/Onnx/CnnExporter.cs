using AvBert.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Export.Onnx;

/// <summary>
/// The CNNs as ONNX nodes, walked from our modules (SPEC §2): each conv → Conv with its own kernel, strides, pads,
/// dilations and groups; each BatchNorm (eval: running statistics) → BatchNormalization; ReLU; the visual stem's
/// max-pool; residual sums; and the pooling head (global ReduceMean, or the reference's window: AveragePool at stride 1,
/// then the mean of what remains, <see cref="VisualResNet3D.Pool"/>).
/// </summary>
public static class CnnExporter
{
    /// <summary>[N, 3, F, H, W] → pooled [N, C]. <paramref name="poolKernel"/>: the clamped window, null for the global mean.</summary>
    public static string Visual(OnnxGraph g, VisualResNet3D cnn, string clips, long[]? poolKernel)
    {
        var c = Children(cnn);
        var stem = Children(c["stem"]);
        var x = g.Relu(ConvBn(g, stem["conv"], stem["bn"], clips, "visual_cnn.stem"));
        x = g.Node("MaxPool", [x], "visual_cnn.stem.pool", ("kernel_shape", new long[] { 1, 3, 3 }), ("strides", new long[] { 1, 2, 2 }),
                   ("pads", new long[] { 0, 1, 1, 0, 1, 1 }));
        x = Stages(g, c, x, "visual_cnn");
        if (poolKernel is not null)
            x = g.Node("AveragePool", [x], "visual_cnn.pool_window", ("kernel_shape", poolKernel), ("strides", new long[] { 1, 1, 1 }));
        return g.Node("ReduceMean", [x], "visual_cnn.pool", ("axes", new long[] { 2, 3, 4 }), ("keepdims", 0L));
    }

    /// <summary>[N, 1, FREQ, TIME] → pooled [N, C] (the global mean).</summary>
    public static string Audio(OnnxGraph g, AudioResNet2D cnn, string spectrograms)
    {
        var c = Children(cnn);
        var stem = Children(c["stem"]);
        var x = g.Relu(ConvBn(g, stem["conv_freq"], stem["bn_freq"], spectrograms, "audio_cnn.stem.freq"));
        x = g.Relu(ConvBn(g, stem["conv_time"], stem["bn_time"], x, "audio_cnn.stem.time"));
        x = Stages(g, c, x, "audio_cnn");
        return g.Node("ReduceMean", [x], "audio_cnn.pool", ("axes", new long[] { 2, 3 }), ("keepdims", 0L));
    }

    static string Stages(OnnxGraph g, Dictionary<string, nn.Module> cnn, string x, string prefix)
    {
        for (int s = 1; s <= 4; s++)
            foreach (var (index, block) in cnn[$"stage{s}"].named_children())
                x = Block(g, block, x, $"{prefix}.stage{s}.{index}");
        return x;
    }

    // The convs of a residual branch in the order they run: bottleneck 1, 2 (or 2_freq, 2_time), 3; basic 1 (or 1_freq,
    // 1_time), 2. Every conv but the branch's last is followed by BN and ReLU; the last by BN only.
    static readonly string[] BranchOrder = ["1", "1_freq", "1_time", "2", "2_freq", "2_time", "3"];

    /// <summary>One residual block (3D or 2D, bottleneck or basic): ReLU(shortcut(x) + branch(x)).</summary>
    static string Block(OnnxGraph g, nn.Module block, string x, string name)
    {
        var c = Children(block);
        var branch = BranchOrder.Where(s => c.ContainsKey("conv" + s)).ToList();
        var h = x;
        for (int i = 0; i < branch.Count; i++)
        {
            h = ConvBn(g, c["conv" + branch[i]], c["bn" + branch[i]], h, $"{name}.conv{branch[i]}");
            if (i < branch.Count - 1) h = g.Relu(h);
        }
        var shortcut = c.ContainsKey("shortcut_conv") ? ConvBn(g, c["shortcut_conv"], c["shortcut_bn"], x, name + ".shortcut") : x;
        return g.Relu(g.Add(shortcut, h));
    }

    /// <summary>Conv (no bias) → BatchNormalization with the running statistics.</summary>
    static string ConvBn(OnnxGraph g, nn.Module conv, nn.Module bn, string x, string name)
    {
        var cv = (Convolution)conv;
        int dims = cv.kernel_size.Length;
        var pads = cv.padding ?? throw new NotSupportedException($"{name}: a conv with padding mode {cv.padding_type} (expected explicit pads)");
        var y = g.Node("Conv", cv.bias is null ? [x, g.Weight(cv.weight!, name + ".weight")] : [x, g.Weight(cv.weight!, name + ".weight"), g.Weight(cv.bias, name + ".bias")],
                       name, ("kernel_shape", cv.kernel_size), ("strides", cv.stride), ("pads", pads.Concat(pads).ToArray()),
                       ("dilations", cv.dilation), ("group", cv.groups));
        var b = (BatchNorm)bn;
        return g.Node("BatchNormalization", [y, g.Weight(b.weight!, name + ".bn.weight"), g.Weight(b.bias!, name + ".bn.bias"),
                                             g.Weight(b.running_mean!, name + ".bn.running_mean"), g.Weight(b.running_var!, name + ".bn.running_var")],
                      name + ".bn", ("epsilon", b.eps));
    }

    internal static Dictionary<string, nn.Module> Children(nn.Module m) => m.named_children().ToDictionary(c => c.name, c => c.module);
}
