// What `import Scalpel` brings besides the runtime and the trainer: the backends and their
// protocol (ScalpelCore, ScalpelCPU, ScalpelOpenCL), tensors and autograd (ScalpelTensor),
// modules, layers, losses and optimizers (ScalpelNN), data files and their preparation
// (ScalpelData) and the diagnosis metrics an evaluation returns (ScalpelMetrics) — everything
// a program that defines and trains its own model needs, in one import.
@_exported import ScalpelBuildInfo
@_exported import ScalpelCore
@_exported import ScalpelCPU
@_exported import ScalpelData
@_exported import ScalpelMetrics
@_exported import ScalpelNN
@_exported import ScalpelONNX
@_exported import ScalpelOpenCL
@_exported import ScalpelTensor
