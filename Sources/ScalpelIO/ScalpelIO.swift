// Safetensors reading and writing (see SafeTensors.swift).
