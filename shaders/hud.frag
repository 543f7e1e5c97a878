#version 330 core
// Pass 3: the HUD text image, drawn 1:1 into a viewport of its own size and alpha-blended.
in vec2 v_ndc;
out vec4 f_color;

uniform sampler2D u_hud;  // RGBA, straight alpha, row 0 at the top

void main() {
    f_color = texture(u_hud, vec2(v_ndc.x, -v_ndc.y) * 0.5 + 0.5);
}
