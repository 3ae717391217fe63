/* hyrsm-batch.h: how many frames each part of libhyrsm takes at once,
 * named once (private). Each bounds memory and latency for its part; the
 * parts chunk what they are given by these, so any n works everywhere. */
#pragma once

/* The CPU backend's largest backbone plan: a batch of n frames runs as
 * chunks of powers of two up to it (7 = 4 + 2 + 1), so at most four plans
 * exist (each ~0.5 s of primitive creation for ResNet-50) and activations
 * stay bounded (ResNet-50 at 224 x 224: ~6.4 MB per frame, ~51 MB at 8).
 * Throughput at 8 is within noise of 16 on 2 cores. It is also how many
 * frames hyrsm-embed.c pre-processes into one float buffer for a backend
 * that does not pre-process itself (8 x 3 x 224 x 224 floats = 4.8 MB). */
#define HYRSM_CPU_BATCH 8

/* The CUDA backend's largest backbone run; more frames are split. */
#define HYRSM_CUDA_BATCH 256

/* Frames of one size handed to a backend's embed_frames (device
 * pre-processing) at once by hyrsm-embed.c. */
#define HYRSM_DEVICE_RUN 64

/* Frames the engine thread (hyrsm-engine.c) embeds per backbone call at
 * most, across all streams on a model: bounds the batch's memory and the
 * latency added to the first frame of a batch. */
#define HYRSM_ENGINE_BATCH 16
