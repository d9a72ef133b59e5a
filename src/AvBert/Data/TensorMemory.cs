using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace AvBert.Data;

/// <summary>Direct access to a CPU tensor's memory, for filling batches with one memcpy per sample.</summary>
static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>Pointer to the first element of a contiguous CPU tensor (storage offset included).</summary>
    public static IntPtr DataPointer(Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException("need a contiguous CPU tensor", nameof(t));
        var p = THSTensor_data(t.Handle);
        if (p == IntPtr.Zero) TorchSharp.torch.CheckForErrors();
        return p;
    }
}
