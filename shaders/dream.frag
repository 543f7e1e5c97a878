#version 330 core
// The procedural dream: domain-warped gradient noise shaped into clouds, ridges and cells,
// optionally folded into a kaleidoscope or a tunnel, coloured by a cosine palette, and mixed
// with the previous frame moved by the camera (the img2img loop of the diffusion backend).
// A live camera frame, when given, is dreamed over: warped by the flow, tinted by the palette,
// layered on the pattern and mixed into the feedback carry.
in vec2 v_ndc;
out vec4 f_color;

uniform vec2 u_resolution;      // frame size in pixels
uniform float u_time;           // animation phase: seconds scaled by the speed controls

// Seed walk: every lattice point gets a random vector for each of two seeds; the walk blends
// them with weights (cos, sin) of the walk's fraction, so an integer walk is a plain seed and
// the field's variance stays the same halfway (like the diffusion backend's noise slerp).
uniform uvec2 u_seed_key;       // lattice keys of seed + floor(walk) and seed + floor(walk) + 1
uniform vec2 u_seed_w;          // their weights
uniform float u_seed_t;         // the walk's fraction (linear), for cell feature points

// The look (vj.gen.look.Look), blended from the prompts on the CPU.
uniform vec3 u_pal_a;
uniform vec3 u_pal_b;
uniform vec3 u_pal_c;
uniform vec3 u_pal_d;
uniform vec3 u_forms;           // clouds, ridges, cells weights (sum 1)
uniform float u_kaleido;        // 0..1 how much mirror symmetry
uniform float u_folds;          // kaleidoscope segments (fractional values blend neighbours)
uniform float u_tunnel;         // 0..1 how much polar tunnel mapping
uniform float u_swirl;          // twist around the centre
uniform float u_scale;          // features per screen height
uniform float u_flow;           // domain-warp amplitude of the look
uniform float u_depth;          // 0..1 how much low heights darken the palette
uniform float u_stars;          // 0..1 star field density
uniform float u_hue_flow;       // 0..1 how much the palette follows the flow instead of the height
uniform float u_glow;           // 0..1 brightness of lines (cell walls, ridge crests)

uniform float u_audio_bass_hit;  // 0..1 audio reactions (vj/audio/uniforms.py); all 0 without audio
uniform float u_audio_high_hit;
uniform float u_audio_amount;    // the audio.amount parameter: scales them
uniform float u_strength;       // 0..1 turbulence: warp amplitude and how much new pattern enters
uniform float u_feedback;       // 0..1 how much of the moved previous frame carries over
uniform sampler2D u_prev;       // previous output (bottom row first, as rendered)
uniform mat3 u_prev_map;        // this frame's NDC -> previous frame's uv (camera motion over dt)
uniform float u_has_prev;       // 0 on the first frame or after a size change
uniform sampler2D u_camera;     // live camera frame (top row first, as uploaded)
uniform mat3 u_camera_map;      // NDC -> camera uv, cover-fit (cropped centrally, never stretched)
uniform float u_camera_mix;     // 0..1 how much the camera replaces the pattern and the carry; 0: unused

const float TAU = 6.28318530718;

// ---- hashing: integer mixing, so patterns are exact and identical everywhere -------------

uint scramble(uint x) {
    x ^= x >> 16;
    x *= 0xa85ddb21u;
    x ^= x >> 15;
    x *= 0xc247326du;
    x ^= x >> 16;
    return x;
}

// Salts give each layer its own random field from the same seed key.
const uint SALT_VECTORS = 0x7211b137u;
const uint SALT_CELLS = 0x8ea19be3u;
const uint SALT_STARS = 0x3780f738u;

uint lattice(ivec2 c, uint key) {
    return scramble(uint(c.x) * 0x3879b95du + uint(c.y) * 0x63cdeb5bu + key);
}

// Two 16-bit halves of a hash as a vector in -1..1.
vec2 unit2(uint h) {
    return vec2(float(h & 0xffffu), float(h >> 16)) * (2.0 / 65535.0) - 1.0;
}

// Four bytes of a hash as two vectors in -1..1 (two independent gradients from one hash).
vec4 unit4(uint h) {
    return vec4(float(h & 0xffu), float((h >> 8) & 0xffu), float((h >> 16) & 0xffu), float(h >> 24))
        * (2.0 / 255.0) - 1.0;
}

// The seed-walk blend of a lattice point's random vectors.
vec2 grad(ivec2 c) {
    vec2 g = unit2(lattice(c, u_seed_key.x)) * u_seed_w.x;
    if (u_seed_w.y != 0.0) g += unit2(lattice(c, u_seed_key.y)) * u_seed_w.y;
    return g;
}

vec4 grad4(ivec2 c) {
    vec4 g = unit4(lattice(c, u_seed_key.x ^ SALT_VECTORS)) * u_seed_w.x;
    if (u_seed_w.y != 0.0) g += unit4(lattice(c, u_seed_key.y ^ SALT_VECTORS)) * u_seed_w.y;
    return g;
}

vec2 fade(vec2 f) {
    return f * f * f * (f * (f * 6.0 - 15.0) + 10.0);  // quintic: smooth second derivative
}

// Gradient noise, roughly -0.7..0.7.
float gnoise(vec2 p) {
    vec2 fl = floor(p);
    ivec2 c = ivec2(fl);
    vec2 f = p - fl;
    vec2 u = fade(f);
    float a = dot(grad(c), f);
    float b = dot(grad(c + ivec2(1, 0)), f - vec2(1.0, 0.0));
    float d = dot(grad(c + ivec2(0, 1)), f - vec2(0.0, 1.0));
    float e = dot(grad(c + ivec2(1, 1)), f - vec2(1.0, 1.0));
    return mix(mix(a, b, u.x), mix(d, e, u.x), u.y);
}

// Two independent gradient noises sharing one lattice walk: half the hashing of two calls.
vec2 gnoise2(vec2 p) {
    vec2 fl = floor(p);
    ivec2 c = ivec2(fl);
    vec2 f = p - fl;
    vec2 u = fade(f);
    vec4 ga = grad4(c), gb = grad4(c + ivec2(1, 0)), gd = grad4(c + ivec2(0, 1)), ge = grad4(c + ivec2(1, 1));
    vec2 fb = f - vec2(1.0, 0.0), fd = f - vec2(0.0, 1.0), fe = f - vec2(1.0, 1.0);
    vec2 a = vec2(dot(ga.xy, f), dot(ga.zw, f));
    vec2 b = vec2(dot(gb.xy, fb), dot(gb.zw, fb));
    vec2 d = vec2(dot(gd.xy, fd), dot(gd.zw, fd));
    vec2 e = vec2(dot(ge.xy, fe), dot(ge.zw, fe));
    return mix(mix(a, b, u.x), mix(d, e, u.x), u.y);
}

// Each octave is rotated so lattice axes never line up into visible grid artefacts.
const mat2 OCT = mat2(1.6, 1.2, -1.2, 1.6);

float fbm(vec2 p, int octaves) {
    float sum = 0.0, amp = 0.5;
    for (int i = 0; i < octaves; i++) {
        sum += amp * gnoise(p);
        p = OCT * p + vec2(3.1, 1.7);
        amp *= 0.5;
    }
    return sum;
}

vec2 fbm2(vec2 p, int octaves) {
    vec2 sum = vec2(0.0);
    float amp = 0.5;
    for (int i = 0; i < octaves; i++) {
        sum += amp * gnoise2(p);
        p = OCT * p + vec2(1.9, 6.3);
        amp *= 0.5;
    }
    return sum;
}

// Ridged noise: sharp bright creases where the noise crosses zero (crystal, lightning).
float ridged(vec2 p, int octaves) {
    float sum = 0.0, amp = 0.6, prev = 1.0;
    for (int i = 0; i < octaves; i++) {
        float r = 1.0 - abs(gnoise(p) * 1.5);
        r *= r;
        sum += amp * r * prev;
        prev = r;
        p = OCT * p + vec2(1.3, 4.1);
        amp *= 0.5;
    }
    return sum;
}

// Cellular noise: distances to the nearest and second-nearest jittered feature points, and
// a random value of the nearest cell (x, y, z).
vec3 cellular(vec2 p) {
    vec2 fl = floor(p);
    ivec2 c = ivec2(fl);
    vec2 f = p - fl;
    float d1 = 8.0, d2 = 8.0, id = 0.0;
    vec2 orbit = vec2(cos(u_time * 0.3), sin(u_time * 0.3));
    for (int j = -1; j <= 1; j++) {
        for (int i = -1; i <= 1; i++) {
            ivec2 o = ivec2(i, j);
            vec4 rnd = unit4(lattice(c + o, u_seed_key.x ^ SALT_CELLS));
            if (u_seed_t > 0.0) rnd = mix(rnd, unit4(lattice(c + o, u_seed_key.y ^ SALT_CELLS)), u_seed_t);
            // feature points orbit on random ellipses so cells breathe instead of sitting still
            vec2 jit = 0.5 + 0.22 * (rnd.xy * orbit.x + rnd.zw * orbit.y);
            vec2 r = vec2(o) + jit - f;
            float d = dot(r, r);
            if (d < d1) { d2 = d1; d1 = d; id = rnd.x * rnd.w; } else if (d < d2) { d2 = d; }
        }
    }
    return vec3(sqrt(d1), sqrt(d2), id);
}

// Negative lobes clip to black on purpose: palettes with a - b < 0 get dark gaps between hues.
vec3 palette(float t) {
    return max(u_pal_a + u_pal_b * cos(TAU * (u_pal_c * t + u_pal_d)), 0.0);
}

// A star field on a grid of cells g (one candidate star each): only the brightest few light
// up, and they twinkle.
vec3 star(vec2 g, ivec2 gc, uint key) {
    vec4 rs = unit4(lattice(gc, key ^ SALT_STARS)) * 0.5 + 0.5;
    float d = length(fract(g) - 0.2 - 0.6 * rs.xy);
    float twinkle = 0.7 + 0.3 * sin(u_time * (1.0 + 3.0 * rs.w) + TAU * rs.z);
    float b = pow(rs.z, 60.0 / u_stars) * twinkle * smoothstep(0.35, 0.0, d);
    return b * (0.7 + 0.3 * palette(rs.w));
}

vec2 rot(vec2 p, float a) {
    float c = cos(a), s = sin(a);
    return vec2(c * p.x - s * p.y, s * p.x + c * p.y);
}

// Mirror fold of the angle into n segments.
vec2 fold(vec2 p, float n, float r, float a) {
    float seg = TAU / n;
    float b = abs(mod(a + 0.5 * seg, seg) - 0.5 * seg);
    return r * vec2(cos(b), sin(b));
}

// Mirrored wrap: the previous frame continues as its own reflection, never as black.
vec2 mirror(vec2 uv) {
    return 1.0 - abs(1.0 - mod(uv, 2.0));
}

void main() {
    float aspect = u_resolution.x / u_resolution.y;
    vec2 p = v_ndc * vec2(0.5 * aspect, 0.5);  // view space: screen height 1, centred
    float t = u_time;
    float r = length(p);

    // swirl: a twist that is strongest at the centre
    p = rot(p, u_swirl * 2.5 * exp(-3.0 * r * r) + 0.03 * u_swirl * t);

    // Kaleidoscope and tunnel grow from the centre as their weights rise (a mandala or a
    // portal opening) instead of cross-fading coordinates, which smears both into mud.
    // Fractional segment counts blend the folds of their two integer neighbours.
    if (u_kaleido > 0.0) {
        float n0 = floor(u_folds);
        float ak = atan(p.y, p.x) + 0.05 * t;
        vec2 k = mix(fold(p, n0, r, ak), fold(p, n0 + 1.0, r, ak), u_folds - n0);
        float reach = u_kaleido * 1.4;
        p = mix(p, k, 1.0 - smoothstep(reach - 0.3, reach, r));
    }
    float fog = 1.0, core = 0.0;
    if (u_tunnel > 0.0) {
        // mirrored angle around, depth (1/r) along, flying inwards with time
        vec2 tp = vec2(abs(atan(p.y, p.x)) * 0.6, 0.22 / (r + 0.02) + 0.35 * t);
        float reach = u_tunnel * 1.4;
        float m = 1.0 - smoothstep(reach - 0.3, reach, r);
        p = mix(p, tp * (2.4 / max(u_scale, 0.1)), m);
        // the far end glows: hides the detail the 1/r depth crams into the centre
        fog = mix(1.0, smoothstep(0.0, 0.5, r), m);
        core = m * exp(-r * r * 40.0);
    }

    vec2 q = p * u_scale;

    // domain warp twice: flowing noise bends the coordinates of the next layer
    float amp = u_flow * (0.3 + 1.0 * u_strength) * (1.0 + 0.6 * u_audio_amount * u_audio_bass_hit);  // kicks bend the flow
    vec2 w1 = fbm2(q + vec2(0.06, -0.05) * t, 2);  // broad bends: two octaves are enough
    vec2 w2 = fbm2(q + amp * w1 + vec2(1.7, 9.2) + vec2(-0.08, 0.11) * t, 4);
    vec2 q3 = q + amp * w2;

    // Each form gives a height (0..1: valleys dark, crests bright), a palette position and
    // glowing lines; the look's weights mix them.
    float h = 0.0, hue = 0.0, lines = 0.0;
    if (u_forms.x > 0.0) {
        float c = smoothstep(-0.25, 0.25, fbm(q3, 5));  // fbm is narrow (sd ~0.09): stretch it
        h += u_forms.x * c;
        hue += u_forms.x * c;
    }
    if (u_forms.y > 0.0) {
        float rd = ridged(q3 * 0.8, 4);
        float c = smoothstep(0.3, 0.95, rd);
        h += u_forms.y * c;
        hue += u_forms.y * c;
        lines += u_forms.y * smoothstep(0.75, 1.1, rd);
    }
    if (u_forms.z > 0.0) {
        vec3 cd = cellular(q3 * 1.1);
        float edge = cd.y - cd.x;
        h += u_forms.z * (0.3 + 0.7 * smoothstep(0.0, 0.6, edge));  // domed cells
        hue += u_forms.z * (0.5 + 0.3 * cd.z + 0.4 * edge);  // each cell its own shade
        lines += u_forms.z * (1.0 - smoothstep(0.0, 0.06, edge) + 0.4 * exp(-edge * 14.0));  // walls, halo
    }

    // colour: the warp vector shifts the palette so folds read as separate layers
    // (the slow drift is bounded: ramp palettes only make sense for t within about 0..1.25)
    float pt = 0.05 + 0.9 * hue + (0.25 + 1.5 * u_hue_flow) * (w2.x - w2.y) + 0.06 * sin(0.07 * t);
    vec3 col = palette(pt);
    col = mix(col, palette(pt + 0.3), 0.35 * smoothstep(0.15, 0.5, length(w1)));
    // depth: valleys sink into darkness (ramp palettes carry their own dark, so less)
    float bright = pow(smoothstep(0.05, 0.95, h), 1.3);
    col *= mix(1.0, 0.12 + 1.05 * bright, u_depth);
    // hot cores glow a little whiter, as if light scattered in them
    col += (0.22 * pow(h, 6.0)) * (palette(pt + 0.1) + 0.3);

    // relief: a soft light from the upper left on the screen-space slope of the height
    vec2 slope = vec2(dFdx(h), dFdy(h)) * (u_resolution.y * 0.02);
    float light = clamp(dot(slope, vec2(-0.6, 0.8)), -1.0, 1.0);
    col *= 1.0 + 0.18 * light;
    col += (u_glow * (1.0 + 1.5 * u_audio_amount * u_audio_high_hit) * lines) * (palette(pt + 0.5) + 0.25);  // hats sparkle

    if (u_stars > 0.0) {
        // one candidate star per cell, 170 cells per screen height (a sky that looks the same
        // at any resolution); the walk fades one seed's sky into the next
        vec2 g = (v_ndc * vec2(aspect, 1.0) + 2.0) * 85.0;
        ivec2 gc = ivec2(floor(g));
        col += star(g, gc, u_seed_key.x) * (1.0 - u_seed_t);
        if (u_seed_t > 0.0) col += star(g, gc, u_seed_key.y) * u_seed_t;
    }

    // vignette: a little darker towards the corners, to hold the eye in the middle
    col *= 1.0 - 0.35 * dot(v_ndc, v_ndc) * 0.5;

    col = col * fog + core * (palette(0.95) + 0.5);
    // soft shoulder above 0.75: highlights bloom instead of clipping flat
    vec3 over = max(col - 0.75, 0.0);
    col = min(col, 0.75) + 0.25 * (1.0 - exp(-4.0 * over));

    // Live camera: sampled through a small share of the dream's warp (strength and kicks
    // make it wobble), its luminance partly recoloured by the palette along the flow, then
    // layered over the pattern; the higher the strength, the more pattern shows through.
    vec3 cam = vec3(0.0);
    if (u_camera_mix > 0.0) {
        vec2 cuv = (u_camera_map * vec3(v_ndc, 1.0)).xy;
        cuv += (w2 - 0.5 * w1) * (0.12 * u_strength * (1.0 + 0.6 * u_audio_amount * u_audio_bass_hit));
        cam = texture(u_camera, cuv).rgb;
        const vec3 LUMA = vec3(0.299, 0.587, 0.114);
        float luma = dot(cam, LUMA);
        vec3 dreamed = palette(0.1 + 0.8 * luma + 0.6 * (w2.x - w2.y)) * (0.15 + 1.1 * luma);
        cam = mix(cam, dreamed, 0.35 + 0.4 * u_strength);
        cam *= 0.7 + 0.8 * dot(col, LUMA);  // the pattern's light plays over the picture
        col = mix(col, cam, u_camera_mix * (0.9 - 0.45 * u_strength));
    }

    // feedback: the previous frame moved by the camera and nudged along the flow (toward the
    // live camera by its mix, as the diffusion backend's init image is)
    if (u_has_prev > 0.0 && u_feedback > 0.0) {
        vec3 m = u_prev_map * vec3(v_ndc, 1.0);
        vec2 uv = m.xy / m.z + (w2 - w1) * 0.006 * u_strength;
        vec3 prev = texture(u_prev, mirror(uv)).rgb;
        if (u_camera_mix > 0.0) prev = mix(prev, cam, u_camera_mix);
        float carry = u_feedback * (1.0 - u_strength);
        col = mix(col, prev, carry);
    }
    f_color = vec4(col, 1.0);
}
